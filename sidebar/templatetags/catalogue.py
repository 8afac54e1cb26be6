"""Template tags of the sidebar's product panel: the catalogue's categories for its filter."""

from django import template

from customers.categories import CATEGORY_LABELS

register = template.Library()


@register.simple_tag
def catalogue_categories() -> list[tuple[str, str]]:
    """(code, 中文名) of every category the catalogue names, for the search's category filter."""
    return list(CATEGORY_LABELS.items())
