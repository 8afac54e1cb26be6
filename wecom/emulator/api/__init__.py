"""The emulator's /cgi-bin/ API: WeCom's paths, JSON fields and error codes, always HTTP 200 with errcode/errmsg.

dispatch.py holds WeComApi, the routing table from path to handler and the gate every call goes through; each
family of WeCom's API has its module (tokens, members, media, customers, contact_ways, tags, messages,
group_chats, transfers), and base.py what they share.
"""
