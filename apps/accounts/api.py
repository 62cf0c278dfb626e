"""REST API of the accounts app: the caller's own API tokens."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import NotByApiToken
from apps.accounts.selectors import api_tokens_for
from apps.accounts.services import api_token_create, api_token_revoke
from apps.core import throttling
from apps.core.pagination import CappedLimitOffsetPagination, paginate
from apps.core.schema import error
from apps.core.serializers import StrictInputSerializer


class TokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    is_live = serializers.BooleanField()


class TokenCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    ttl_days = serializers.IntegerField(min_value=1, max_value=366, required=False)


class TokenCreatedOutput(TokenOutput):
    key = serializers.CharField(help_text="The key, shown this once only.")


class TokenListCreateApi(APIView):
    throttle_scopes = {"POST": throttling.TOKENS}
    permission_classes = [IsAuthenticated, NotByApiToken]  # POST: a session only
    pagination_class = CappedLimitOffsetPagination  # GET is a paginated list

    @extend_schema(responses=TokenOutput(many=True))
    def get(self, request):
        paginator, tokens = paginate(request=request, queryset=api_tokens_for(user=request.user), view=self)
        return paginator.get_paginated_response(TokenOutput(tokens, many=True).data)

    @extend_schema(request=TokenCreateInput,
                   responses={201: TokenCreatedOutput, 403: error("the role lacks the permission, or the caller used an API "
                                                             "token: tokens are created with a session only"),
                              409: error("a live token of that name already exists")})
    def post(self, request):
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        key = api_token_create(user=request.user, request=request, **data.validated_data)
        token = api_tokens_for(user=request.user).get(prefix=key.split("_")[1])
        token.key = key  # shown this once; only its hash is stored
        return Response(TokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    @extend_schema(request=None, responses=TokenOutput)
    def post(self, request, token_id: int):
        token = get_object_or_404(api_tokens_for(user=request.user), pk=token_id)
        return Response(TokenOutput(api_token_revoke(token=token, actor=request.user, request=request)).data)
