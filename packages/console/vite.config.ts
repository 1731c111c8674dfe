// Vite build of the console: one HTML page, hashed JS and CSS under /console/assets, no inline
// script or style (the orchestrator's CSP allows only 'self'), no CDN. Preact's JSX through Vite's
// own transform (no plugin needed).
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web',
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    // The module-preload polyfill would be an inline script; every browser the console supports has it.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
