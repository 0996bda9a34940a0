import { useEffect } from 'react';
import { getPluginTheme } from '../api/plugins';
import { useColorMode } from './ColorModeProvider';

/**
 * Applies the enabled theme plugin's palette once signed in (the theme is
 * the portal's, not the person's, so it is asked for at every load). No
 * theme plugin, or the question failing, leaves the app's own theme.
 */
export function PluginTheme() {
  const { setPluginPalette } = useColorMode();
  useEffect(() => {
    const controller = new AbortController();
    getPluginTheme(controller.signal).then(
      (t) => setPluginPalette(t?.palette),
      () => setPluginPalette(undefined),
    );
    return () => controller.abort();
  }, [setPluginPalette]);
  return null;
}
