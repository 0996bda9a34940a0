import AppsIcon from '@mui/icons-material/Apps';
import AddIcon from '@mui/icons-material/Add';
import DeleteIcon from '@mui/icons-material/DeleteOutlineOutlined';
import EditIcon from '@mui/icons-material/EditOutlined';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { isUnchanged } from '../../../api/admin';
import type { Template } from '../../../api/models';
import { listTemplates } from '../../../api/templates';
import { actionsColumn, DataTable, type Column } from '../../../components/DataTable';
import { EmptyState } from '../../../components/EmptyState';
import { useNotify } from '../../../components/Notifier';
import { PageHeader } from '../../../components/PageHeader';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { ResourceView } from '../../../components/ResourceView';
import { TemplateIcon } from '../../../components/TemplateIcon';
import { useResource } from '../../../hooks/useResource';
import { templateMatches } from '../../catalog/filterTemplates';
import { resourcesLabel } from '../../catalog/TemplateCard';
import { clipboardPolicy } from '../../viewer/dataPolicy';
import { DeleteFromGitDialog } from '../changes/DeleteFromGitDialog';
import { NewTemplateDialog } from './NewTemplateDialog';
import { TemplateEditDialog } from './TemplateEditDialog';

function clipboardLabel(t: Template): string {
  const clip = clipboardPolicy(t.dataPolicy);
  return clip.paste && clip.copy ? 'Both ways' : clip.paste ? 'Paste in only' : clip.copy ? 'Copy out only' : 'Off';
}

export default function TemplatesAdminPage() {
  const templates = useResource((signal) => listTemplates(signal), []);
  const notify = useNotify();
  const [editing, setEditing] = useState<Template>();
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<Template>();

  const columns: Column<Template>[] = [
    {
      key: 'template',
      header: 'Template',
      cell: (t) => (
        <Box sx={{ display: 'flex', alignItems: 'center', gap: 1.5 }}>
          <TemplateIcon name={t.displayName} icon={t.icon} size={32} />
          <Box>
            <Typography sx={{ fontWeight: 500 }}>{t.displayName}</Typography>
            <Typography variant="caption" color="textSecondary" sx={{ fontFamily: 'monospace' }}>
              {t.name}
            </Typography>
          </Box>
        </Box>
      ),
    },
    { key: 'category', header: 'Category', cell: (t) => t.category },
    { key: 'stream', header: 'Stream', cell: (t) => <Chip size="small" variant="outlined" label={t.stream.protocol} /> },
    { key: 'resources', header: 'Resources', cell: (t) => resourcesLabel(t.resources) ?? '—' },
    { key: 'clipboard', header: 'Clipboard', cell: clipboardLabel },
    actionsColumn((t) => (
      <>
        <Tooltip title="Edit">
          <IconButton aria-label={`Edit ${t.displayName}`} onClick={() => setEditing(t)} size="small">
            <EditIcon fontSize="small" />
          </IconButton>
        </Tooltip>
        <Tooltip title="Delete">
          <IconButton aria-label={`Delete ${t.displayName}`} onClick={() => setDeleting(t)} size="small">
            <DeleteIcon fontSize="small" />
          </IconButton>
        </Tooltip>
      </>
    )),
  ];

  return (
    <>
      <PageHeader
        title="Templates"
        subtitle="The catalog, as synced from Git. A new template, an edit or a deletion here becomes a pull request in the platform repository."
        actions={
          <Button variant="contained" startIcon={<AddIcon />} onClick={() => setCreating(true)}>
            New template
          </Button>
        }
      />
      <ResourceView
        resource={templates}
        errorTitle="The templates could not be loaded"
        loading={<TableSkeleton />}
        empty={
          <EmptyState icon={<AppsIcon />} title="No templates" description="Add Template YAML to catalog/ in the platform repository." />
        }
      >
        {(list) => (
          <DataTable
            label="Templates"
            outlined
            hover
            filter={{
              label: 'Filter templates',
              placeholder: 'Filter templates',
              matches: (t, query) => templateMatches(t, { query, tags: [] }),
            }}
            columns={columns}
            rows={list}
            rowKey={(t) => t.name}
            rowProps={(t) => ({ 'data-testid': `template-row-${t.name}` })}
          />
        )}
      </ResourceView>
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
      <NewTemplateDialog
        open={creating}
        categoriesInUse={templates.data?.map((t) => t.category) ?? []}
        onClose={() => setCreating(false)}
        onProposed={(name) => notify(`Template ${name} proposed`, 'success')}
      />
      <DeleteFromGitDialog
        target={deleting && { kind: 'templates', name: deleting.name, label: deleting.displayName }}
        onClose={() => setDeleting(undefined)}
        onProposed={(name) => notify(`Deletion of template ${name} proposed`, 'success')}
      />
    </>
  );
}
