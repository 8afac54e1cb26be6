"""A channel or store code's community invite in its welcome message (registered with the client book from
`CommunitiesConfig.ready()`): the new friend's associate's join-way poster of the code's community."""

import logging

from clientbook.codes import code_of_follow
from clientbook.models import FollowRelation
from communities.models import Community
from communities.services import community_invite_code_ensure, community_poster_media
from omni.errors import ApplicationError
from wecom.client import WeComError

logger = logging.getLogger(__name__)


def community_choices(store_ids: list[int] | None) -> list[tuple[int, str]]:
    communities = Community.objects.select_related("store").order_by("store__code", "name")
    if store_ids is not None:
        communities = communities.filter(store_id__in=store_ids)
    return [(c.pk, f"{c.store.name} · {c.name}") for c in communities[:200]]


def welcome_community_invite(follow: FollowRelation) -> list[dict]:
    """The poster of the code's community as an image attachment; nothing when the code has none or the community
    cannot invite now (the welcome goes out without it)."""
    code = code_of_follow(follow)
    if code is None or not code.welcome_community_id:
        return []
    community = Community.objects.filter(pk=code.welcome_community_id, store_id=follow.associate.store_id).first()
    if community is None:
        return []
    try:
        invite_code = community_invite_code_ensure(community=community, associate=follow.associate)
        media_id = community_poster_media(code=invite_code)
    except (ApplicationError, WeComError) as exc:
        logger.info("No community invite in the welcome of follow %s: %s", follow.pk, exc)
        return []
    return [{"msgtype": "image", "image": {"media_id": media_id}}]
