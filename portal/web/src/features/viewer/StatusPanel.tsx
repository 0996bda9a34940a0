import Box from '@mui/material/Box';
import Paper from '@mui/material/Paper';
import type { ReactNode } from 'react';

/** A centered card over the viewer's dark stage, for every state but streaming. */
export function StatusPanel({ children, label }: { children: ReactNode; label: string }) {
  return (
    <Box sx={{ position: 'absolute', inset: 0, display: 'grid', placeItems: 'center', p: 2, overflow: 'auto' }}>
      <Paper role="region" aria-label={label} sx={{ p: { xs: 3, sm: 4 }, width: '100%', maxWidth: 640, borderRadius: 3 }} elevation={8}>
        {children}
      </Paper>
    </Box>
  );
}
