import Autocomplete from '@mui/material/Autocomplete';
import Chip from '@mui/material/Chip';
import TextField from '@mui/material/TextField';

interface Props {
  label: string;
  value: string[];
  onChange: (value: string[]) => void;
  /** Suggestions; any other value may be typed too. */
  options?: string[];
  helperText?: string;
  error?: boolean;
}

/** A list of short strings (groups, users, tags) as chips: type and press Enter to add. */
export function ChipInput({ label, value, onChange, options = [], helperText, error }: Props) {
  return (
    <Autocomplete
      multiple
      freeSolo
      options={options.filter((o) => !value.includes(o))}
      value={value}
      onChange={(_, next) => onChange([...new Set(next.map((v) => v.trim()).filter(Boolean))])}
      renderValue={(items, getItemProps) =>
        items.map((item, index) => {
          const { key, ...props } = getItemProps({ index });
          return <Chip key={key} size="small" label={item} {...props} />;
        })
      }
      renderInput={(params) => (
        <TextField {...params} label={label} helperText={helperText ?? 'Press Enter after each one'} error={error} margin="dense" />
      )}
    />
  );
}
