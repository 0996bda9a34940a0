import ExtensionIcon from '@mui/icons-material/ExtensionOutlined';
import SearchIcon from '@mui/icons-material/Search';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Card from '@mui/material/Card';
import CardActionArea from '@mui/material/CardActionArea';
import CardContent from '@mui/material/CardContent';
import Chip from '@mui/material/Chip';
import InputAdornment from '@mui/material/InputAdornment';
import MenuItem from '@mui/material/MenuItem';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { useSearchParams } from 'react-router';
import type { CatalogPlugin } from '../../api/models';
import { getPluginCatalog } from '../../api/plugins';
import { useAuth } from '../../auth/AuthContext';
import { EmptyState } from '../../components/EmptyState';
import { PageHeader } from '../../components/PageHeader';
import { CardGridSkeleton } from '../../components/PageSkeleton';
import { ResourceView } from '../../components/ResourceView';
import { useResource } from '../../hooks/useResource';
import { PluginDetailDialog } from './PluginDetailDialog';
import { PluginTypeChip } from './PluginChips';
import { pluginTypes } from './pluginLook';

/** Whether a plugin matches the search words (name, description, category, type). */
export function matchesPlugin(p: CatalogPlugin, query: string): boolean {
  const text = [p.name, p.displayName, p.description, p.category, p.type, p.repository].join(' ').toLowerCase();
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => text.includes(w));
}

const key = (p: CatalogPlugin) => `${p.repository}/${p.name}@${p.version}`;

export default function PluginCatalogPage() {
  const catalog = useResource((signal) => getPluginCatalog(signal), []);
  const { isAdmin } = useAuth();
  const [params, setParams] = useSearchParams();
  const query = params.get('q') ?? '';
  const type = params.get('type') ?? '';
  const category = params.get('category') ?? '';
  const [open, setOpen] = useState<CatalogPlugin>();
  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };

  return (
    <>
      <PageHeader
        title="Plugins"
        subtitle="What the plugin repositories offer. Admins install plugins by pull request to the platform repository."
      />
      <ResourceView
        resource={catalog}
        errorTitle="The plugin catalog could not be loaded"
        loading={<CardGridSkeleton />}
        isEmpty={(c) => c.plugins.length === 0}
        empty={
          <EmptyState
            icon={<ExtensionIcon />}
            title="No plugins"
            description="No plugin repository offers any yet. Add a PluginRepository to the platform repository."
          />
        }
      >
        {(c) => {
          const categories = [...new Set(c.plugins.map((p) => p.category).filter((x): x is string => !!x))].sort();
          const shown = c.plugins.filter(
            (p) => matchesPlugin(p, query) && (!type || p.type === type) && (!category || p.category === category),
          );
          return (
            <>
              <Box sx={{ display: 'flex', gap: 1.5, flexWrap: 'wrap', mb: 3 }}>
                <TextField
                  type="search"
                  size="small"
                  placeholder="Search plugins"
                  value={query}
                  onChange={(e) => set('q', e.target.value)}
                  sx={{ minWidth: 280, flex: '1 1 280px', maxWidth: 480 }}
                  slotProps={{
                    htmlInput: { 'aria-label': 'Search plugins' },
                    input: {
                      startAdornment: (
                        <InputAdornment position="start">
                          <SearchIcon />
                        </InputAdornment>
                      ),
                    },
                  }}
                />
                <TextField
                  select
                  size="small"
                  label="Type"
                  value={type}
                  onChange={(e) => set('type', e.target.value)}
                  sx={{ minWidth: 180 }}
                >
                  <MenuItem value="">All types</MenuItem>
                  {Object.entries(pluginTypes).map(([t, look]) => (
                    <MenuItem key={t} value={t}>
                      {look.label}
                    </MenuItem>
                  ))}
                </TextField>
                <TextField
                  select
                  size="small"
                  label="Category"
                  value={category}
                  onChange={(e) => set('category', e.target.value)}
                  sx={{ minWidth: 180 }}
                >
                  <MenuItem value="">All categories</MenuItem>
                  {categories.map((cat) => (
                    <MenuItem key={cat} value={cat}>
                      {cat}
                    </MenuItem>
                  ))}
                </TextField>
              </Box>
              {shown.length === 0 && <Alert severity="info">No plugin matches these filters.</Alert>}
              <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: 'repeat(auto-fill, minmax(260px, 1fr))' }}>
                {shown.map((p) => (
                  <Card key={key(p)} data-testid={`plugin-card-${p.name}`}>
                    <CardActionArea
                      onClick={() => setOpen(p)}
                      sx={{ height: '100%', alignItems: 'flex-start' }}
                      aria-label={`${p.displayName}: details`}
                    >
                      <CardContent>
                        <Box sx={{ display: 'flex', gap: 1, alignItems: 'center', mb: 1, flexWrap: 'wrap' }}>
                          <Typography variant="h3" component="h2">
                            {p.displayName}
                          </Typography>
                          <PluginTypeChip type={p.type} />
                          {p.installed.length > 0 && <Chip size="small" variant="outlined" label="installed" />}
                        </Box>
                        <Typography variant="body2" color="text.secondary">
                          {p.description || 'No description.'}
                        </Typography>
                        <Typography variant="caption" color="text.secondary" component="p" sx={{ mt: 1 }}>
                          {p.version} · {p.repository}
                          {p.category ? ` · ${p.category}` : ''}
                        </Typography>
                      </CardContent>
                    </CardActionArea>
                  </Card>
                ))}
              </Box>
            </>
          );
        }}
      </ResourceView>
      <PluginDetailDialog plugin={open} canInstall={isAdmin} onClose={() => setOpen(undefined)} onInstalled={() => void catalog.reload()} />
    </>
  );
}
