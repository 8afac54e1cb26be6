"""A channel or store code's materials in its welcome message (registered with the client book from
`LibraryConfig.ready()`): links as link cards, images as uploaded media."""

import logging

from clientbook.codes import code_of_follow
from clientbook.models import FollowRelation
from library.models import Material
from library.services import material_media_id
from omni.errors import ApplicationError

logger = logging.getLogger(__name__)
WELCOME_KINDS = (Material.Kind.LINK, Material.Kind.IMAGE)


def material_choices(store_ids: list[int] | None) -> list[tuple[int, str]]:
    """HQ materials and these stores' (personal ones are an associate's own), of the kinds a welcome can carry."""
    materials = Material.objects.filter(kind__in=WELCOME_KINDS, owner__isnull=True).order_by("position", "pk")
    if store_ids is not None:
        materials = materials.filter(store_id__in=store_ids) | materials.filter(store__isnull=True)
    return [(m.pk, f"{m.get_kind_display()} · {m.title}") for m in materials[:200]]


def welcome_materials(follow: FollowRelation) -> list[dict]:
    code = code_of_follow(follow)
    if code is None or not code.welcome_material_ids:
        return []
    attachments = []
    for material in Material.objects.filter(pk__in=code.welcome_material_ids, kind__in=WELCOME_KINDS).order_by("pk"):
        if material.kind == Material.Kind.LINK:
            link = {"title": material.title, "url": material.link_url, "desc": material.description}
            if material.cover_url:
                link["picurl"] = material.cover_url
            attachments.append({"msgtype": "link", "link": link})
            continue
        try:
            attachments.append({"msgtype": "image", "image": {"media_id": material_media_id(material=material)}})
        except ApplicationError as exc:
            logger.info("Material %s left out of the welcome of follow %s: %s", material.pk, follow.pk, exc)
    return attachments
