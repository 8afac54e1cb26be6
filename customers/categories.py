"""The catalog's category codes and how people read them (品类)."""

CATEGORY_LABELS: dict[str, str] = {
    "dress": "连衣裙",
    "skirt": "半身裙",
    "shirt": "衬衫",
    "suit": "西装",
    "trousers": "裤装",
    "knitwear": "针织",
    "coat": "大衣",
    "shoes": "鞋履",
    "belt": "腰带",
    "scarf": "围巾丝巾",
    "tie": "领带",
    "socks": "袜子",
    "bag": "包袋",
    "cleanser": "洁面",
    "toner": "化妆水",
    "serum": "精华",
    "moisturizer": "面霜乳液",
    "sunscreen": "防晒",
    "mask": "面膜",
}


def category_label(code: str) -> str:
    """The Chinese name of a category code; codes a brand adds without a name read as themselves."""
    return CATEGORY_LABELS.get(code, code)


# Sizes are read per family: a customer's usual clothing size says nothing about their shoes.
SHOE_CATEGORIES = frozenset({"shoes"})


def size_family(category: str) -> str:
    return "鞋" if category in SHOE_CATEGORIES else "服装"
