/**
 * How the dashboard's browser tests launch Debian's Chromium (`.ci/run` installs it): headless,
 * and with flags that keep it from calling out to the network.
 */
export const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
};
