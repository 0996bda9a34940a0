import { lazy, Suspense } from 'react';
import { BrowserRouter, Navigate, Outlet, Route, Routes } from 'react-router';
import { RequireAdmin } from './auth/RequireAdmin';
import { RequireAuth } from './auth/RequireAuth';
import { NotifierProvider } from './components/Notifier';
import { PageSkeleton } from './components/PageSkeleton';
import CatalogPage from './features/catalog/CatalogPage';
import DashboardPage from './features/dashboard/DashboardPage';
import NotFoundPage from './features/errors/NotFoundPage';
import LoginPage from './features/login/LoginPage';
import { AppShell } from './layout/AppShell';
import { ColorModeProvider } from './theme/ColorModeProvider';
import { PluginThemeProvider } from './theme/PluginTheme';

// Pages most people never open are loaded on demand: the viewer brings
// noVNC, analytics the charts.
const SessionViewerPage = lazy(() => import('./features/viewer/SessionViewerPage'));
const TokensPage = lazy(() => import('./features/tokens/TokensPage'));
const UsersPage = lazy(() => import('./features/admin/users/UsersPage'));
const TemplatesAdminPage = lazy(() => import('./features/admin/templates/TemplatesAdminPage'));
const QuotasPage = lazy(() => import('./features/admin/quotas/QuotasPage'));
const AnalyticsPage = lazy(() => import('./features/admin/analytics/AnalyticsPage'));
const SyncPage = lazy(() => import('./features/admin/sync/SyncPage'));
const PluginCatalogPage = lazy(() => import('./features/plugins/PluginCatalogPage'));
const InstalledPluginsPage = lazy(() => import('./features/plugins/InstalledPluginsPage'));
const AdminPluginsPage = lazy(() => import('./features/plugins/AdminPluginsPage'));

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireAuth>
            <Outlet />
          </RequireAuth>
        }
      >
        <Route
          path="/session/:id"
          element={
            <Suspense fallback={<PageSkeleton />}>
              <SessionViewerPage />
            </Suspense>
          }
        />
        <Route element={<AppShell />}>
          <Route index element={<Navigate to="/dashboard" replace />} />
          <Route path="/dashboard" element={<DashboardPage />} />
          <Route path="/catalog" element={<CatalogPage />} />
          <Route path="/settings/tokens" element={<TokensPage />} />
          <Route path="/plugins" element={<Navigate to="/plugins/catalog" replace />} />
          <Route path="/plugins/catalog" element={<PluginCatalogPage />} />
          <Route path="/plugins/installed" element={<InstalledPluginsPage />} />
          <Route path="/admin" element={<RequireAdmin />}>
            <Route index element={<Navigate to="/admin/users" replace />} />
            <Route path="users" element={<UsersPage />} />
            <Route path="templates" element={<TemplatesAdminPage />} />
            <Route path="quotas" element={<QuotasPage />} />
            <Route path="analytics" element={<AnalyticsPage />} />
            <Route path="sync" element={<SyncPage />} />
            <Route path="plugins" element={<AdminPluginsPage />} />
          </Route>
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
    </Routes>
  );
}

export function App() {
  return (
    <ColorModeProvider>
      <PluginThemeProvider>
        <NotifierProvider>
          <BrowserRouter>
            <AppRoutes />
          </BrowserRouter>
        </NotifierProvider>
      </PluginThemeProvider>
    </ColorModeProvider>
  );
}
