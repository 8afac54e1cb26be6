"""WeCom (企业微信) integration: the API client, callback crypto and events, OAuth, JS-SDK, and the emulator."""
