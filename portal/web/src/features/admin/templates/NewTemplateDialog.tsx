import Box from '@mui/material/Box';
import TextField from '@mui/material/TextField';
import { useEffect, useState } from 'react';
import { createTemplate } from '../../../api/admin';
import { ProposeChangeDialog } from '../changes/ProposeChangeDialog';
import { CategoryField } from './CategoryField';

interface Props {
  open: boolean;
  /** Categories the catalog already uses. */
  categoriesInUse: string[];
  onClose: () => void;
  onProposed: (name: string) => void;
}

const formFields = ['image', 'spec.category', 'spec.displayName', 'metadata.name'];

/**
 * A new template from an image reference: ports, stream, home mount,
 * environment, security and resources follow the catalog's template of the
 * same image family (the portal says which).
 */
export function NewTemplateDialog({ open, categoriesInUse, onClose, onProposed }: Props) {
  const [image, setImage] = useState('');
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [category, setCategory] = useState('');
  useEffect(() => {
    if (open) {
      setImage('');
      setName('');
      setDisplayName('');
      setCategory('');
    }
  }, [open]);

  const propose = async (reason: string) => {
    const r = await createTemplate({
      image: image.trim(),
      name: name.trim() || undefined,
      displayName: displayName.trim() || undefined,
      category: category.trim() || undefined,
      reason,
    });
    return { ...r.result, warnings: [...(r.result.warnings ?? []), ...r.notes] };
  };

  return (
    <ProposeChangeDialog
      open={open}
      title="New template"
      submitLabel="Propose template"
      formFields={formFields}
      onPropose={propose}
      onProposed={() => onProposed(name || image)}
      onClose={onClose}
    >
      {(errors) => (
        <Box sx={{ display: 'grid', gap: 1 }}>
          <TextField
            label="Image"
            value={image}
            onChange={(e) => setImage(e.target.value)}
            required
            autoFocus
            margin="dense"
            placeholder="lscr.io/linuxserver/musescore:4.5.2-ls3"
            error={Boolean(errors.image)}
            helperText={
              errors.image ?? 'Pinned to a version tag or a digest; the rest follows the catalog’s template of the same image family'
            }
          />
          <TextField
            label="Name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            margin="dense"
            error={Boolean(errors['metadata.name'])}
            helperText={errors['metadata.name'] ?? 'Default: the image’s name'}
          />
          <TextField label="Display name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} margin="dense" />
          <CategoryField value={category} onChange={setCategory} inUse={categoriesInUse} error={errors['spec.category']} />
        </Box>
      )}
    </ProposeChangeDialog>
  );
}
