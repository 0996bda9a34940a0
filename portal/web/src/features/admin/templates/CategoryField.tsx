import Autocomplete from '@mui/material/Autocomplete';
import TextField from '@mui/material/TextField';
import { categories } from './templateSpec';

interface Props {
  value: string;
  onChange: (category: string) => void;
  /** Categories the catalog already uses, offered beside the recommended ones. */
  inUse?: string[];
  error?: string;
  required?: boolean;
}

/** A template's category: any name, with the recommended and the catalog's own offered. */
export function CategoryField({ value, onChange, inUse = [], error, required }: Props) {
  const options = [...new Set([...categories, ...inUse])].sort((a, b) => a.localeCompare(b));
  return (
    <Autocomplete
      freeSolo
      options={options}
      value={value}
      onInputChange={(_, v) => onChange(v)}
      renderInput={(params) => (
        <TextField
          {...params}
          label="Category"
          required={required}
          margin="dense"
          error={Boolean(error)}
          helperText={
            error ?? (value && !options.includes(value) ? 'A new category: it is shown as its own group in the catalog' : undefined)
          }
        />
      )}
    />
  );
}
