import MenuIcon from '@mui/icons-material/Menu';
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Drawer from '@mui/material/Drawer';
import IconButton from '@mui/material/IconButton';
import Toolbar from '@mui/material/Toolbar';
import { useTheme } from '@mui/material/styles';
import useMediaQuery from '@mui/material/useMediaQuery';
import { Suspense, useState } from 'react';
import { Link, Outlet } from 'react-router';
import { PageSkeleton } from '../components/PageSkeleton';
import { AccountMenu } from './AccountMenu';
import { Brand } from './Brand';
import { NavDrawerContent } from './NavDrawerContent';
import { SkipLink } from './SkipLink';
import { ThemeToggle } from './ThemeToggle';
import { useDocumentTitle, useProduct } from '../theme/PluginTheme';

const DRAWER_WIDTH = 232;

/**
 * The frame of every page but the viewer: app bar, navigation drawer (kept
 * open on wide screens, a slide-over below 900 px, tablets included) and
 * the page.
 */
export function AppShell() {
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up('md'), { noSsr: true });
  const [open, setOpen] = useState(false);
  const { name } = useProduct();
  useDocumentTitle();

  return (
    <Box sx={{ display: 'flex', minHeight: '100vh' }}>
      <SkipLink />
      <AppBar position="fixed" sx={{ zIndex: (t) => t.zIndex.drawer + 1, bgcolor: 'background.paper' }}>
        <Toolbar sx={{ gap: 1 }}>
          {!wide && (
            <IconButton
              edge="start"
              color="inherit"
              aria-label="Open navigation"
              aria-controls="main-navigation"
              aria-expanded={open}
              onClick={() => setOpen(true)}
            >
              <MenuIcon />
            </IconButton>
          )}
          <Box
            component={Link}
            to="/dashboard"
            aria-label={`${name} home`}
            sx={{ color: 'inherit', textDecoration: 'none', borderRadius: 1 }}
          >
            <Brand />
          </Box>
          <Box sx={{ flex: 1 }} />
          <ThemeToggle />
          <AccountMenu />
        </Toolbar>
      </AppBar>
      <Drawer
        id="main-navigation"
        variant={wide ? 'permanent' : 'temporary'}
        open={wide || open}
        onClose={() => setOpen(false)}
        sx={{
          width: wide ? DRAWER_WIDTH : undefined,
          flexShrink: 0,
          '& .MuiDrawer-paper': { width: DRAWER_WIDTH, boxSizing: 'border-box' },
        }}
      >
        <Toolbar />
        <Box sx={{ py: 1.5 }}>
          <NavDrawerContent onNavigate={wide ? undefined : () => setOpen(false)} />
        </Box>
      </Drawer>
      <Box component="main" id="main" tabIndex={-1} sx={{ flex: 1, minWidth: 0, px: { xs: 2, sm: 3, lg: 4 }, py: 3, outline: 'none' }}>
        <Toolbar />
        <Box sx={{ maxWidth: 1400, mx: 'auto' }}>
          <Suspense fallback={<PageSkeleton />}>
            <Outlet />
          </Suspense>
        </Box>
      </Box>
    </Box>
  );
}
