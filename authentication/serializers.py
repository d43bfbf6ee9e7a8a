"""Shapes of the authentication endpoints: credentials in, token, profile and messages out."""

from rest_framework import serializers


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(help_text="Archive or observation-portal username")
    password = serializers.CharField(
        trim_whitespace=False, style={"input_type": "password"}, help_text="The account's password"
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The archive's API token; send it as `Authorization: Token <token>`")


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What was done")


class ProfileProposalsSerializer(serializers.Serializer):
    # Not required: an anonymous caller's profile is `{}`.
    proposals = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Proposals whose proprietary data the user may see, sorted; absent when not logged in",
    )


class ProfileSerializer(serializers.Serializer):
    """`/profile/`: for anonymous callers `username` is empty and `profile` is `{}`."""

    username = serializers.CharField(allow_blank=True, help_text="The username; empty when not logged in")
    profile = ProfileProposalsSerializer(help_text="The user's proposals; empty object when not logged in")
    is_staff = serializers.BooleanField(help_text="Whether the user is archive staff")

    def to_representation(self, user):
        if user is None or not user.is_authenticated:
            return {"username": "", "profile": {}, "is_staff": False}
        return {
            "username": user.get_username(),
            "profile": {"proposals": sorted(self.context["proposals"])},
            "is_staff": bool(user.is_staff),
        }


class PortalProfilePushSerializer(serializers.Serializer):
    """The observation portal's profile JSON, as it pushes it (documentation only: the body is parsed strictly from
    the raw request, whatever its content type)."""

    username = serializers.CharField()
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField(required=False)
    email = serializers.CharField(required=False)
    is_staff = serializers.BooleanField(required=False)
    is_superuser = serializers.BooleanField(required=False)
    profile = serializers.DictField(required=False, help_text="`staff_view` is read")
    tokens = serializers.DictField(required=False, help_text="`api_token` is read")
    proposals = serializers.ListField(child=serializers.DictField(), required=False, help_text="`id` of each is read")
