import ArrowBackIcon from '@mui/icons-material/ArrowBack';
import ContentPasteIcon from '@mui/icons-material/ContentPaste';
import FullscreenIcon from '@mui/icons-material/Fullscreen';
import FullscreenExitIcon from '@mui/icons-material/FullscreenExit';
import KeyboardIcon from '@mui/icons-material/KeyboardOutlined';
import MoreVertIcon from '@mui/icons-material/MoreVert';
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Chip, { type ChipProps } from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import ListItemIcon from '@mui/material/ListItemIcon';
import Menu from '@mui/material/Menu';
import MenuItem from '@mui/material/MenuItem';
import Toolbar from '@mui/material/Toolbar';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import DeleteIcon from '@mui/icons-material/DeleteOutlineOutlined';
import { useState, type MouseEvent } from 'react';
import { Link } from 'react-router';
import { TemplateIcon } from '../../components/TemplateIcon';
import { ThemeToggle } from '../../layout/ThemeToggle';
import { formatDuration } from '../../lib/time';

export type ConnectionState = 'starting' | 'connecting' | 'connected' | 'reconnecting' | 'hibernated' | 'ended';

const chips: Record<ConnectionState, { label: string; color: ChipProps['color'] }> = {
  starting: { label: 'Starting', color: 'info' },
  connecting: { label: 'Connecting', color: 'info' },
  connected: { label: 'Connected', color: 'success' },
  reconnecting: { label: 'Reconnecting', color: 'warning' },
  hibernated: { label: 'Hibernated', color: 'default' },
  ended: { label: 'Not available', color: 'error' },
};

interface Props {
  title: string;
  sessionName: string;
  icon?: string;
  connection: ConnectionState;
  /** Time left before an idle hibernation, when known. */
  idleMs?: number;
  fullscreen: boolean;
  onToggleFullscreen: () => void;
  /** Only for noVNC: a web client has its own clipboard and keys. */
  onOpenClipboard?: (anchor: HTMLElement) => void;
  onCtrlAltDel?: () => void;
  onTerminate?: () => void;
}

export function ViewerToolbar(p: Props) {
  const chip = chips[p.connection];
  const [menu, setMenu] = useState<HTMLElement | null>(null);
  return (
    <AppBar position="static" sx={{ bgcolor: 'background.paper' }}>
      <Toolbar variant="dense" sx={{ gap: 1, minHeight: 52 }}>
        <Tooltip title="Back to my sessions">
          <IconButton edge="start" component={Link} to="/dashboard" aria-label="Back to my sessions">
            <ArrowBackIcon />
          </IconButton>
        </Tooltip>
        <TemplateIcon name={p.title} icon={p.icon} size={28} />
        <Box sx={{ minWidth: 0, display: 'flex', alignItems: 'baseline', gap: 1 }}>
          <Typography component="h1" sx={{ fontWeight: 600 }} noWrap>
            {p.title}
          </Typography>
          <Typography
            variant="caption"
            color="textSecondary"
            sx={{ fontFamily: 'monospace', display: { xs: 'none', sm: 'inline' } }}
            noWrap
          >
            {p.sessionName}
          </Typography>
        </Box>
        <Chip size="small" label={chip.label} color={chip.color} data-testid="connection-state" data-state={p.connection} />
        <Box sx={{ flex: 1 }} />
        {p.idleMs !== undefined && Number.isFinite(p.idleMs) && p.connection === 'connected' && (
          <Typography
            variant="body2"
            color={p.idleMs < 5 * 60_000 ? 'warning' : 'textSecondary'}
            sx={{ display: { xs: 'none', md: 'block' } }}
          >
            Hibernates in {formatDuration(Math.max(0, p.idleMs))} if idle
          </Typography>
        )}
        {p.onOpenClipboard && (
          <Tooltip title="Clipboard">
            <IconButton aria-label="Clipboard" onClick={(e: MouseEvent<HTMLElement>) => p.onOpenClipboard?.(e.currentTarget)}>
              <ContentPasteIcon />
            </IconButton>
          </Tooltip>
        )}
        <Tooltip title={p.fullscreen ? 'Exit full screen' : 'Full screen'}>
          <IconButton aria-label={p.fullscreen ? 'Exit full screen' : 'Full screen'} onClick={p.onToggleFullscreen}>
            {p.fullscreen ? <FullscreenExitIcon /> : <FullscreenIcon />}
          </IconButton>
        </Tooltip>
        <ThemeToggle />
        {(p.onCtrlAltDel || p.onTerminate) && (
          <>
            <IconButton aria-label="More actions" aria-haspopup="menu" onClick={(e) => setMenu(e.currentTarget)}>
              <MoreVertIcon />
            </IconButton>
            <Menu anchorEl={menu} open={Boolean(menu)} onClose={() => setMenu(null)}>
              {p.onCtrlAltDel && (
                <MenuItem
                  onClick={() => {
                    setMenu(null);
                    p.onCtrlAltDel?.();
                  }}
                >
                  <ListItemIcon>
                    <KeyboardIcon fontSize="small" />
                  </ListItemIcon>
                  Send Ctrl+Alt+Del
                </MenuItem>
              )}
              {p.onTerminate && (
                <MenuItem
                  onClick={() => {
                    setMenu(null);
                    p.onTerminate?.();
                  }}
                  sx={{ color: 'error.main' }}
                >
                  <ListItemIcon>
                    <DeleteIcon fontSize="small" color="error" />
                  </ListItemIcon>
                  Terminate session
                </MenuItem>
              )}
            </Menu>
          </>
        )}
      </Toolbar>
    </AppBar>
  );
}
