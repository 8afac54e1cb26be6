"""The sidebar's tag picker (/api/v1/sidebar/customers/<id>/tag-picker/): the corp tag groups the associate's store
may use (the brand's and the store's own) with the customer's tags ticked; a POST adds and removes tags, written to
WeCom with mark_tag on the associate's friendship (removals on every friendship that carries them) and here."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from clientbook.tags import customer_tags_mark, tag_picker_get
from omni.openapi import error_responses
from sidebar.base import SidebarApi


class PickerTagOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    on = serializers.BooleanField(help_text="The customer has it")


class PickerGroupOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    store_only = serializers.BooleanField(help_text="A group of the associate's store only")
    tags = PickerTagOut(many=True)


class TagPickerOut(serializers.Serializer):
    groups = PickerGroupOut(many=True)


class TagMarkIn(serializers.Serializer):
    add = serializers.ListField(child=serializers.IntegerField(), required=False, default=list, max_length=100)
    remove = serializers.ListField(child=serializers.IntegerField(), required=False, default=list, max_length=100)

    def validate(self, attrs):
        if not attrs["add"] and not attrs["remove"]:
            raise serializers.ValidationError("add 或 remove 至少一个。")
        return attrs


def _picker_json(customer, associate) -> dict:
    return {
        "groups": [
            {
                "id": group.id,
                "name": group.name,
                "store_only": group.store_only,
                "tags": [{"id": tag.id, "name": tag.name, "on": tag.on} for tag in group.tags],
            }
            for group in tag_picker_get(customer=customer, associate=associate)
        ]
    }


class SidebarTagPickerApi(SidebarApi):
    @extend_schema(operation_id="sidebar_customer_tag_picker_get", responses=TagPickerOut, tags=["sidebar"])
    def get(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        return Response(_picker_json(customer, request.user))

    @extend_schema(
        operation_id="sidebar_customer_tags_mark",
        request=TagMarkIn,
        responses={200: TagPickerOut, **error_responses(400, 404)},
        tags=["sidebar"],
        description="Add and remove corp tags (in WeCom with mark_tag, then here); answers the picker after.",
    )
    def post(self, request, customer_id: int):
        customer = self.customer(request, customer_id)
        data = TagMarkIn(data=request.data)
        data.is_valid(raise_exception=True)
        customer_tags_mark(
            customer=customer,
            associate=request.user,
            add=data.validated_data["add"],
            remove=data.validated_data["remove"],
        )
        return Response(_picker_json(customer, request.user))
