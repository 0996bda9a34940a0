import AdminPanelSettingsIcon from '@mui/icons-material/AdminPanelSettingsOutlined';
import AppsIcon from '@mui/icons-material/Apps';
import BarChartIcon from '@mui/icons-material/BarChart';
import ExtensionIcon from '@mui/icons-material/ExtensionOutlined';
import DesktopWindowsIcon from '@mui/icons-material/DesktopWindowsOutlined';
import KeyIcon from '@mui/icons-material/KeyOutlined';
import PeopleIcon from '@mui/icons-material/PeopleOutlined';
import SpeedIcon from '@mui/icons-material/Speed';
import SyncIcon from '@mui/icons-material/Sync';
import type { ReactNode } from 'react';

export interface NavItem {
  label: string;
  to: string;
  icon: ReactNode;
}

export const userNav: NavItem[] = [
  { label: 'Sessions', to: '/dashboard', icon: <DesktopWindowsIcon /> },
  { label: 'Catalog', to: '/catalog', icon: <AppsIcon /> },
  { label: 'Plugins', to: '/plugins/catalog', icon: <ExtensionIcon /> },
  { label: 'Installed plugins', to: '/plugins/installed', icon: <ExtensionIcon /> },
  { label: 'API tokens', to: '/settings/tokens', icon: <KeyIcon /> },
];

export const adminNav: NavItem[] = [
  { label: 'Users', to: '/admin/users', icon: <PeopleIcon /> },
  { label: 'Templates', to: '/admin/templates', icon: <AdminPanelSettingsIcon /> },
  { label: 'Quotas', to: '/admin/quotas', icon: <SpeedIcon /> },
  { label: 'Analytics', to: '/admin/analytics', icon: <BarChartIcon /> },
  { label: 'Sync', to: '/admin/sync', icon: <SyncIcon /> },
  { label: 'Plugin management', to: '/admin/plugins', icon: <ExtensionIcon /> },
];
