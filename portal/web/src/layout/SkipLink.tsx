import Box from '@mui/material/Box';

/** For keyboard users: the first Tab stop jumps over the navigation to the page. */
export function SkipLink() {
  return (
    <Box
      component="a"
      href="#main"
      sx={{
        position: 'fixed',
        left: 8,
        top: -48,
        zIndex: (t) => t.zIndex.tooltip,
        px: 2,
        py: 1,
        borderRadius: 1,
        bgcolor: 'primary.main',
        color: 'primary.contrastText',
        textDecoration: 'none',
        '&:focus': { top: 8 },
      }}
    >
      Skip to content
    </Box>
  );
}
