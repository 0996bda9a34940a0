import List from '@mui/material/List';
import ListItemButton from '@mui/material/ListItemButton';
import ListItemIcon from '@mui/material/ListItemIcon';
import ListItemText from '@mui/material/ListItemText';
import ListSubheader from '@mui/material/ListSubheader';
import { NavLink } from 'react-router';
import { useAuth } from '../auth/AuthContext';
import { adminNav, userNav, type NavItem } from './navItems';

function NavList({ items, heading, onNavigate }: { items: NavItem[]; heading?: string; onNavigate?: () => void }) {
  return (
    <List
      dense
      sx={{ px: 1.5 }}
      subheader={heading && <ListSubheader sx={{ bgcolor: 'transparent', lineHeight: '36px' }}>{heading}</ListSubheader>}
    >
      {items.map((item) => (
        <ListItemButton key={item.to} component={NavLink} to={item.to} onClick={onNavigate} sx={{ mb: 0.25 }}>
          <ListItemIcon sx={{ minWidth: 36 }}>{item.icon}</ListItemIcon>
          <ListItemText primary={item.label} />
        </ListItemButton>
      ))}
    </List>
  );
}

/** The links of the navigation drawer; admin pages only for admins. */
export function NavDrawerContent({ onNavigate }: { onNavigate?: () => void }) {
  const { isAdmin } = useAuth();
  return (
    <nav aria-label="Main">
      <NavList items={userNav} onNavigate={onNavigate} />
      {isAdmin && <NavList items={adminNav} heading="Administration" onNavigate={onNavigate} />}
    </nav>
  );
}
