import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { getPluginTheme } from '../api/plugins';
import type { PluginTheme } from '../api/models';
import { useColorMode } from './ColorModeProvider';

/** What the product is called and its mark, as every page shows them. */
export interface Product {
  name: string;
  /** An image URL of this portal. */
  logo: string;
}

export const DEFAULT_PRODUCT: Product = { name: 'StreamSpace', logo: '/favicon.svg' };

/** Where the portal serves the theme's logo; any other URL is ignored. */
const LOGO_PATH = '/api/v1/plugins/theme/logo';

/**
 * The product a theme plugin makes of the UI: its name (trimmed, bounded)
 * and its logo when the portal serves one; the defaults for the rest.
 */
export function productOf(theme: PluginTheme | null | undefined): Product {
  if (!theme) return DEFAULT_PRODUCT;
  const name = theme.displayName?.trim().slice(0, 60) || DEFAULT_PRODUCT.name;
  const logo = theme.logo && (theme.logo === LOGO_PATH || theme.logo.startsWith(LOGO_PATH + '?')) ? theme.logo : DEFAULT_PRODUCT.logo;
  return { name, logo };
}

const ProductContext = createContext<Product>(DEFAULT_PRODUCT);

/**
 * Applies the enabled theme plugin at load, on every page the sign-in page
 * included (the theme is the portal's, not the person's, and public): its
 * palette over the app's own, its name and logo wherever the product is
 * named. No theme plugin, or the question failing, leaves the defaults.
 */
export function PluginThemeProvider({ children }: { children: ReactNode }) {
  const { setPluginPalette } = useColorMode();
  const [product, setProduct] = useState<Product>(DEFAULT_PRODUCT);
  useEffect(() => {
    const controller = new AbortController();
    getPluginTheme(controller.signal).then(
      (t) => {
        setPluginPalette(t?.palette);
        setProduct(productOf(t));
      },
      () => {
        if (controller.signal.aborted) return;
        setPluginPalette(undefined);
        setProduct(DEFAULT_PRODUCT);
      },
    );
    return () => controller.abort();
  }, [setPluginPalette]);
  return <ProductContext.Provider value={product}>{children}</ProductContext.Provider>;
}

export function useProduct(): Product {
  return useContext(ProductContext);
}

/**
 * Sets the document's title to "<page> — <product>" (the product alone
 * without a page) while the caller is shown.
 */
export function useDocumentTitle(page?: string) {
  const { name } = useProduct();
  useEffect(() => {
    document.title = page ? `${page} — ${name}` : name;
    return () => {
      document.title = name;
    };
  }, [page, name]);
}
