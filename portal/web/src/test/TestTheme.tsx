import { createTheme, ThemeProvider, type Theme } from '@mui/material/styles';
import type { ReactNode } from 'react';

const instant = { shortest: 0, shorter: 0, short: 0, standard: 0, complex: 0, enteringScreen: 0, leavingScreen: 0 };

/** The app's theme without animations and ripples: the same DOM, faster tests. */
export function TestTheme({ children }: { children: ReactNode }) {
  return (
    <ThemeProvider
      theme={(outer: Theme) =>
        createTheme(outer, {
          transitions: { duration: instant, create: () => 'none' },
          components: { MuiButtonBase: { defaultProps: { disableRipple: true } } },
        })
      }
    >
      {children}
    </ThemeProvider>
  );
}
