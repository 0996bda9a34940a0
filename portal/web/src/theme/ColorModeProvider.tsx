import CssBaseline from '@mui/material/CssBaseline';
import { ThemeProvider } from '@mui/material/styles';
import useMediaQuery from '@mui/material/useMediaQuery';
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { createAppTheme, type PluginPalette } from './theme';

export type ColorPreference = 'light' | 'dark' | 'system';

interface ColorMode {
  /** What the user chose; 'system' follows the device. */
  preference: ColorPreference;
  /** What is shown. */
  mode: 'light' | 'dark';
  setPreference: (p: ColorPreference) => void;
  toggle: () => void;
  /** A theme plugin's palette over the app's own; undefined: none. */
  setPluginPalette: (p: PluginPalette | undefined) => void;
}

const STORAGE_KEY = 'streamspace.colorMode';

const ColorModeContext = createContext<ColorMode | null>(null);

function storedPreference(): ColorPreference {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (v === 'light' || v === 'dark') return v;
  } catch {
    // storage disabled: follow the system
  }
  return 'system';
}

export function ColorModeProvider({ children }: { children: ReactNode }) {
  const prefersDark = useMediaQuery('(prefers-color-scheme: dark)', { noSsr: true });
  const [preference, setPreferenceState] = useState<ColorPreference>(storedPreference);
  const mode = preference === 'system' ? (prefersDark ? 'dark' : 'light') : preference;
  const [pluginPalette, setPluginPalette] = useState<PluginPalette>();

  const setPreference = useCallback((p: ColorPreference) => {
    setPreferenceState(p);
    try {
      if (p === 'system') localStorage.removeItem(STORAGE_KEY);
      else localStorage.setItem(STORAGE_KEY, p);
    } catch {
      // not persisted; still applied
    }
  }, []);

  const value = useMemo<ColorMode>(
    () => ({ preference, mode, setPreference, toggle: () => setPreference(mode === 'dark' ? 'light' : 'dark'), setPluginPalette }),
    [preference, mode, setPreference],
  );
  const theme = useMemo(() => createAppTheme(mode, pluginPalette), [mode, pluginPalette]);

  return (
    <ColorModeContext.Provider value={value}>
      <ThemeProvider theme={theme}>
        <CssBaseline enableColorScheme />
        {children}
      </ThemeProvider>
    </ColorModeContext.Provider>
  );
}

export function useColorMode(): ColorMode {
  const ctx = useContext(ColorModeContext);
  if (!ctx) throw new Error('useColorMode outside ColorModeProvider');
  return ctx;
}
