import { alpha, createTheme, type PaletteMode, type Theme } from '@mui/material/styles';

/** A theme plugin's colours (each #rrggbb; any may be missing). */
export interface PluginPalette {
  primary?: string;
  secondary?: string;
  background?: string;
  surface?: string;
  text?: string;
}

/** Whether a #rrggbb colour is dark (relative luminance under one half). */
export function isDark(hex: string): boolean {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5;
}

/**
 * The app's look: calm, dense enough for admins, clear primary actions.
 * A theme plugin's palette replaces the accents in both modes; its
 * background, surface and text only in the mode its background belongs to
 * (a dark theme's page colours on a light page would hide its text).
 */
export function createAppTheme(mode: PaletteMode, plugin?: PluginPalette): Theme {
  const dark = mode === 'dark';
  const pageColours = plugin?.background === undefined || isDark(plugin.background) === dark;
  const primary = plugin?.primary ?? (dark ? '#8ea2ff' : '#3451d1');
  const background = dark ? { default: '#0f1115', paper: '#171a21' } : { default: '#f5f6f8', paper: '#ffffff' };
  return createTheme({
    palette: {
      mode,
      primary: { main: primary },
      secondary: { main: plugin?.secondary ?? (dark ? '#4dd0c4' : '#00897b') },
      background: {
        default: (pageColours && plugin?.background) || background.default,
        paper: (pageColours && plugin?.surface) || background.paper,
      },
      ...(pageColours && plugin?.text ? { text: { primary: plugin.text } } : {}),
      divider: dark ? 'rgba(255,255,255,0.10)' : 'rgba(15,23,42,0.10)',
    },
    shape: { borderRadius: 10 },
    typography: {
      fontFamily: '"Roboto", system-ui, -apple-system, "Segoe UI", "Helvetica Neue", Arial, sans-serif',
      h1: { fontSize: '1.6rem', fontWeight: 600 },
      h2: { fontSize: '1.25rem', fontWeight: 600 },
      h3: { fontSize: '1.05rem', fontWeight: 600 },
      button: { textTransform: 'none', fontWeight: 500 },
    },
    components: {
      MuiCssBaseline: {
        styleOverrides: {
          // a visible focus ring for keyboard users on plain links and regions
          'a:focus-visible, [tabindex]:focus-visible': { outline: `2px solid ${primary}`, outlineOffset: 2 },
          code: { fontFamily: '"Roboto Mono", ui-monospace, SFMono-Regular, Menlo, monospace', fontSize: '0.85em' },
        },
      },
      // and on every button, chip, switch and list item (ButtonBase sets outline: 0)
      MuiButtonBase: {
        styleOverrides: { root: { '&.Mui-focusVisible': { outline: `2px solid ${primary}`, outlineOffset: 2 } } },
      },
      MuiButton: { defaultProps: { disableElevation: true } },
      MuiAppBar: {
        defaultProps: { elevation: 0, color: 'inherit' },
        styleOverrides: {
          root: ({ theme }) => ({ borderBottom: `1px solid ${theme.palette.divider}` }),
        },
      },
      MuiCard: { defaultProps: { variant: 'outlined' } },
      MuiPaper: { defaultProps: { elevation: 0 } },
      MuiDialog: { defaultProps: { slotProps: { paper: { elevation: 8 } } } },
      MuiTooltip: { defaultProps: { arrow: true } },
      // the containing block of visually hidden headers, so they scroll with the table
      MuiTableContainer: { styleOverrides: { root: { position: 'relative' } } },
      MuiTableCell: {
        styleOverrides: {
          head: ({ theme }) => ({ fontWeight: 600, color: theme.palette.text.secondary, whiteSpace: 'nowrap' }),
        },
      },
      MuiListItemButton: {
        styleOverrides: {
          root: ({ theme }) => ({
            borderRadius: theme.shape.borderRadius,
            '&.active': {
              backgroundColor: alpha(theme.palette.primary.main, dark ? 0.18 : 0.1),
              color: theme.palette.primary.main,
              '& .MuiListItemIcon-root': { color: theme.palette.primary.main },
            },
          }),
        },
      },
    },
  });
}
