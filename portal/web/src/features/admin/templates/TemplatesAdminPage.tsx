import AppsIcon from '@mui/icons-material/Apps';
import EditIcon from '@mui/icons-material/EditOutlined';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { isUnchanged } from '../../../api/admin';
import { listTemplates } from '../../../api/templates';
import type { Template } from '../../../api/models';
import { EmptyState } from '../../../components/EmptyState';
import { ErrorState } from '../../../components/ErrorState';
import { useNotify } from '../../../components/Notifier';
import { PageHeader } from '../../../components/PageHeader';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { TemplateIcon } from '../../../components/TemplateIcon';
import { VisuallyHidden } from '../../../components/VisuallyHidden';
import { useResource } from '../../../hooks/useResource';
import { resourcesLabel } from '../../catalog/TemplateCard';
import { filterTemplates } from '../../catalog/filterTemplates';
import { clipboardPolicy } from '../../viewer/dataPolicy';
import { TemplateEditDialog } from './TemplateEditDialog';

export default function TemplatesAdminPage() {
  const templates = useResource((signal) => listTemplates(signal), []);
  const notify = useNotify();
  const [query, setQuery] = useState('');
  const [editing, setEditing] = useState<Template>();
  const shown = filterTemplates(templates.data ?? [], { query, tags: [] });

  return (
    <>
      <PageHeader
        title="Templates"
        subtitle="The catalog, as synced from Git. An edit here becomes a pull request in the platform repository."
      />
      {templates.error !== undefined && !templates.data ? (
        <ErrorState title="The templates could not be loaded" error={templates.error} onRetry={templates.reload} />
      ) : templates.loading ? (
        <TableSkeleton />
      ) : templates.data!.length === 0 ? (
        <EmptyState icon={<AppsIcon />} title="No templates" description="Add Template YAML to catalog/ in the platform repository." />
      ) : (
        <>
          <TextField
            type="search"
            size="small"
            placeholder="Filter templates"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            slotProps={{ htmlInput: { 'aria-label': 'Filter templates' } }}
            sx={{ mb: 2, width: 320, maxWidth: '100%' }}
          />
          <Paper variant="outlined">
            <TableContainer>
              <Table size="small" aria-label="Templates">
                <TableHead>
                  <TableRow>
                    <TableCell>Template</TableCell>
                    <TableCell>Category</TableCell>
                    <TableCell>Stream</TableCell>
                    <TableCell>Resources</TableCell>
                    <TableCell>Clipboard</TableCell>
                    <TableCell align="right">
                      <VisuallyHidden>Actions</VisuallyHidden>
                    </TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {shown.map((t) => {
                    const clip = clipboardPolicy(t.dataPolicy);
                    return (
                      <TableRow key={t.name} hover data-testid={`template-row-${t.name}`}>
                        <TableCell>
                          <Box sx={{ display: 'flex', alignItems: 'center', gap: 1.5 }}>
                            <TemplateIcon name={t.displayName} icon={t.icon} size={32} />
                            <Box>
                              <Typography sx={{ fontWeight: 500 }}>{t.displayName}</Typography>
                              <Typography variant="caption" color="textSecondary" sx={{ fontFamily: 'monospace' }}>
                                {t.name}
                              </Typography>
                            </Box>
                          </Box>
                        </TableCell>
                        <TableCell>{t.category}</TableCell>
                        <TableCell>
                          <Chip size="small" variant="outlined" label={t.stream.protocol} />
                        </TableCell>
                        <TableCell>{resourcesLabel(t.resources) ?? '—'}</TableCell>
                        <TableCell>
                          {clip.paste && clip.copy ? 'Both ways' : clip.paste ? 'Paste in only' : clip.copy ? 'Copy out only' : 'Off'}
                        </TableCell>
                        <TableCell align="right">
                          <Tooltip title="Edit">
                            <IconButton aria-label={`Edit ${t.displayName}`} onClick={() => setEditing(t)} size="small">
                              <EditIcon fontSize="small" />
                            </IconButton>
                          </Tooltip>
                        </TableCell>
                      </TableRow>
                    );
                  })}
                </TableBody>
              </Table>
            </TableContainer>
          </Paper>
        </>
      )}
      <TemplateEditDialog
        template={editing}
        onClose={() => setEditing(undefined)}
        onProposed={(t, r) =>
          notify(
            isUnchanged(r) ? `${t.displayName}: Git already has this` : `Change to ${t.displayName} proposed`,
            isUnchanged(r) ? 'info' : 'success',
          )
        }
      />
    </>
  );
}
