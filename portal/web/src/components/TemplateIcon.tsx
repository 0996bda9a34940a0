import Avatar from '@mui/material/Avatar';
import { useState } from 'react';

const palette = ['#3451d1', '#00897b', '#8e24aa', '#ef6c00', '#c2185b', '#2e7d32', '#5d4037', '#0277bd'];

function colorOf(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return palette[h % palette.length];
}

function initials(name: string): string {
  const words = name.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (words.length === 0) return '?';
  return (words.length > 1 ? words[0][0] + words[1][0] : words[0].slice(0, 2)).toUpperCase();
}

/** An app's icon, or its initials on a colour of its own when there is none or it fails to load. */
export function TemplateIcon({ name, icon, size = 40 }: { name: string; icon?: string; size?: number }) {
  const [broken, setBroken] = useState(false);
  const show = icon && !broken;
  return (
    <Avatar
      variant="rounded"
      src={show ? icon : undefined}
      alt=""
      slotProps={{ img: { onError: () => setBroken(true), loading: 'lazy' } }}
      sx={{
        width: size,
        height: size,
        fontSize: size * 0.4,
        fontWeight: 600,
        bgcolor: show ? 'transparent' : colorOf(name),
        color: '#fff',
        '& img': { objectFit: 'contain' },
      }}
    >
      {initials(name)}
    </Avatar>
  );
}
