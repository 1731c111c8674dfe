// Entry point: mounts the console. Everything the page runs is in these bundled modules (no inline
// script; the CSP forbids one).
import { render } from 'preact';
import { App } from './app.tsx';

const root = document.getElementById('app');
if (root) render(<App />, root);
