import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import type { ReactNode } from 'react';

interface Props {
  icon: ReactNode;
  title: string;
  description?: ReactNode;
  action?: ReactNode;
}

/** What a page shows when there is nothing yet, and what to do about it. */
export function EmptyState({ icon, title, description, action }: Props) {
  return (
    <Box
      sx={{
        textAlign: 'center',
        py: 8,
        px: 3,
        border: 1,
        borderColor: 'divider',
        borderStyle: 'dashed',
        borderRadius: 3,
        color: 'text.secondary',
      }}
    >
      <Box sx={{ fontSize: 48, lineHeight: 1, mb: 2, color: 'primary.main', '& svg': { fontSize: 48 } }} aria-hidden>
        {icon}
      </Box>
      <Typography variant="h2" color="textPrimary" gutterBottom>
        {title}
      </Typography>
      {description && <Typography sx={{ maxWidth: 480, mx: 'auto', mb: action ? 3 : 0 }}>{description}</Typography>}
      {action}
    </Box>
  );
}
