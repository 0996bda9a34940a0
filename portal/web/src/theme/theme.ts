import { alpha, createTheme, type PaletteMode, type Theme } from '@mui/material/styles';

/** The app's look: calm, dense enough for admins, clear primary actions. */
export function createAppTheme(mode: PaletteMode): Theme {
  const dark = mode === 'dark';
  const primary = dark ? '#8ea2ff' : '#3451d1';
  return createTheme({
    palette: {
      mode,
      primary: { main: primary },
      secondary: { main: dark ? '#4dd0c4' : '#00897b' },
      background: dark ? { default: '#0f1115', paper: '#171a21' } : { default: '#f5f6f8', paper: '#ffffff' },
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
