// @paddock/cli's surface for the repository's own scripts (npm start writes the CLI's login with it).
export { configDir, configPath, readConfig, writeConfig, type CliConfig } from './config.ts';
export { main } from './main.ts';
