"""The publisher-facing shell, the top layer below config: sign-in, the dashboard, the
publisher switcher and the settings pages. It reads the apps through their selectors."""
