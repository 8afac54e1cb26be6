"""A local WeCom (企业微信) emulator: WeCom's server API, callbacks, OAuth and a JS-SDK stand-in, with a
browser UI that plays the WeCom client and a control API for tests. Omni reaches it only through
WECOM_API_BASE; see server.py for the layout and `manage.py wecom_emulator` to run it.
"""
