import Box from '@mui/material/Box';
import Skeleton from '@mui/material/Skeleton';

/** A page loading: its header and a few cards. */
export function PageSkeleton() {
  return (
    <Box role="status" aria-label="Loading">
      <Skeleton variant="text" width={220} height={40} />
      <Skeleton variant="text" width={360} sx={{ mb: 3 }} />
      <CardGridSkeleton />
    </Box>
  );
}

export function CardGridSkeleton({ count = 6, height = 160 }: { count?: number; height?: number }) {
  return (
    <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: 'repeat(auto-fill, minmax(280px, 1fr))' }}>
      {Array.from({ length: count }, (_, i) => (
        <Skeleton key={i} variant="rounded" height={height} />
      ))}
    </Box>
  );
}

export function TableSkeleton({ rows = 6 }: { rows?: number }) {
  return (
    <Box role="status" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => (
        <Skeleton key={i} variant="rounded" height={40} sx={{ mb: 1 }} />
      ))}
    </Box>
  );
}
