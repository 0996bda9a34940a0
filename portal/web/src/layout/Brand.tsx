import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { DEFAULT_PRODUCT, useProduct } from '../theme/PluginTheme';

/** The product's mark and name (a theme plugin's when one is enabled). */
export function Brand({ size = 28 }: { size?: number }) {
  const { name, logo } = useProduct();
  // a logo the portal refuses to serve falls back to the default mark
  const [failed, setFailed] = useState<string>();
  return (
    <Box sx={{ display: 'flex', alignItems: 'center', gap: 1.25, minWidth: 0 }}>
      <Box
        component="img"
        src={failed === logo ? DEFAULT_PRODUCT.logo : logo}
        onError={() => setFailed(logo)}
        alt=""
        sx={{ width: size, height: size, objectFit: 'contain', flexShrink: 0 }}
      />
      <Typography component="span" noWrap sx={{ fontWeight: 700, fontSize: size * 0.62, letterSpacing: '-0.01em' }}>
        {name}
      </Typography>
    </Box>
  );
}
