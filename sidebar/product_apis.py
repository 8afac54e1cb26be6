"""The sidebar's product search (/api/v1/sidebar/products/): the catalogue by name, SKU, barcode (a scan), category,
price range and "in stock here", each style with its sizes and colours and their stock here and at the nearby stores
(`customers.catalogue`). Authentication is the sidebar's (`sidebar.base.SidebarApi`); other stores' stock is only
a count per store."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from customers.catalogue import MAX_PAGE, CatalogueResults, catalogue_search, catalogue_store_get
from omni.openapi import error_responses
from sidebar.base import SidebarApi, money_json


class ProductSearchIn(serializers.Serializer):
    q = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    barcode = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    price_min = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    price_max = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    in_stock = serializers.BooleanField(required=False, default=False)
    store = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    page = serializers.IntegerField(required=False, default=1)

    def validate_barcode(self, value: str) -> str:
        # A scan answers "EAN_13,6901234567890": the code is after the comma.
        return value.rsplit(",", 1)[-1].strip()


class NearbyStockOut(serializers.Serializer):
    store = serializers.CharField()
    quantity = serializers.IntegerField()


class VariantOut(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    size = serializers.CharField(allow_blank=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    barcode = serializers.CharField(allow_blank=True)
    store_stock = serializers.IntegerField(help_text="Units at the store searched for (the associate's)")
    online_stock = serializers.IntegerField(allow_null=True)
    nearby_stock = NearbyStockOut(many=True, help_text="Units at the nearby stores that have it, nearest first")


class ProductResultOut(serializers.Serializer):
    sku = serializers.CharField(help_text="The SKU that matched (the first of its style on the page)")
    name = serializers.CharField()
    style_code = serializers.CharField(allow_blank=True)
    category = serializers.CharField(allow_blank=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    image_url = serializers.CharField(allow_blank=True)
    variants = VariantOut(many=True)


class NearbyStoreOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    city = serializers.CharField(allow_blank=True)
    distance_km = serializers.FloatField(allow_null=True, help_text="null: same city, no coordinates")


class ProductSearchOut(serializers.Serializer):
    store = serializers.DictField(help_text="{code, name} of the store whose stock is 'here'")
    nearby_stores = NearbyStoreOut(many=True)
    results = ProductResultOut(many=True)
    page = serializers.IntegerField()
    has_more = serializers.BooleanField()


def _search_json(found: CatalogueResults) -> dict:
    return {
        "store": {"code": found.store.code, "name": found.store.name},
        "nearby_stores": [
            {"code": s.code, "name": s.name, "city": s.city, "distance_km": s.distance_km} for s in found.nearby
        ],
        "results": [
            {
                "sku": r.sku,
                "name": r.name,
                "style_code": r.style_code,
                "category": r.category,
                "price": money_json(r.price),
                "image_url": r.image_url,
                "variants": [
                    {
                        "sku": v.sku,
                        "name": v.name,
                        "size": v.size,
                        "price": money_json(v.price),
                        "barcode": v.barcode,
                        "store_stock": v.store_stock,
                        "online_stock": v.online_stock,
                        "nearby_stock": [{"store": name, "quantity": units} for name, units in v.nearby_stock],
                    }
                    for v in r.variants
                ],
            }
            for r in found.results
        ],
        "page": found.page,
        "has_more": found.has_more,
    }


class SidebarProductSearchApi(SidebarApi):
    @extend_schema(
        operation_id="sidebar_products_search",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Words of the name (any part) or a SKU prefix"),
            OpenApiParameter("barcode", OpenApiTypes.STR, description="Exact barcode, or a scan's EAN_13,<code>"),
            OpenApiParameter("category", OpenApiTypes.STR),
            OpenApiParameter("price_min", OpenApiTypes.DECIMAL),
            OpenApiParameter("price_max", OpenApiTypes.DECIMAL),
            OpenApiParameter("in_stock", OpenApiTypes.BOOL, description="Only what the store has in stock"),
            OpenApiParameter("store", OpenApiTypes.STR, description="Store code for 'here'; default: the associate's"),
            OpenApiParameter("page", OpenApiTypes.INT, description=f"1 to {MAX_PAGE}"),
        ],
        responses={200: ProductSearchOut, **error_responses(400)},
        tags=["sidebar"],
    )
    def get(self, request):
        data = ProductSearchIn(data=request.query_params.dict())
        data.is_valid(raise_exception=True)
        params = data.validated_data
        store = catalogue_store_get(code=params.pop("store"), default=request.user.store)
        found = catalogue_search(
            store=store,
            query=params["q"],
            barcode=params["barcode"],
            category=params["category"],
            price_min=params.get("price_min"),
            price_max=params.get("price_max"),
            in_stock=params["in_stock"],
            page=params["page"],
        )
        return Response(_search_json(found))
