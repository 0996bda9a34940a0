import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';

/** The product's mark and name. */
export function Brand({ size = 28 }: { size?: number }) {
  return (
    <Box sx={{ display: 'flex', alignItems: 'center', gap: 1.25 }}>
      <Box component="img" src="/favicon.svg" alt="" sx={{ width: size, height: size }} />
      <Typography component="span" sx={{ fontWeight: 700, fontSize: size * 0.62, letterSpacing: '-0.01em' }}>
        StreamSpace
      </Typography>
    </Box>
  );
}
