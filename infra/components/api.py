"""The inference front door: an HTTP API (API Gateway v2, payload format 2.0) with the Open Inference
Protocol's routes in front of the serving function, which reads models from the bucket and writes one event per
request to the stream. Authorisation is on by default (IAM, or a JWT authoriser); an open API only when the
configuration says ``api_auth: none``."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from constructs import Construct

from driftline.deploy.functions import FUNCTIONS
from infra.components.access import StackArns
from infra.components.assets import Packager
from infra.components.cfn import default_child
from infra.components.function import DriftlineFunction
from infra.config import StackConfig

# (method, path): the Open Inference Protocol (v2) routes the serving function answers
# (the same list as driftline.serving.service.ROUTES; a test keeps them equal)
ROUTES = (
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/{name}"),
    ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"),
    ("GET", "/v2/models/{name}/versions/{version}"),
    ("GET", "/v2/models/{name}/versions/{version}/ready"),
    ("POST", "/v2/models/{name}/versions/{version}/infer"),
    ("POST", "/v2/models/{name}/ground-truth"),
    ("POST", "/v2/models/{name}/events"),
)
# One JSON line per request (API Gateway's $context variables).
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","caller":"$context.identity.caller",'
    '"user":"$context.identity.user","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
    '"routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol",'
    '"responseLength":"$context.responseLength","integrationLatency":"$context.integrationLatency",'
    '"integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error"}'
)

# What an operator needs per request (about a third of the bytes, and of CloudWatch Logs' $0.50/GB ingestion):
# which request, when, which route, the answer, how long the function took and why it failed.
LEAN_ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","requestTime":"$context.requestTimeEpoch","routeKey":"$context.routeKey",'
    '"status":"$context.status","integrationLatency":"$context.integrationLatency",'
    '"integrationError":"$context.integrationErrorMessage"}'
)


class InferenceApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        packager: Packager,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        arns: StackArns,
    ) -> None:
        super().__init__(scope, construct_id)
        names = config.names
        self.serving = DriftlineFunction(
            self,
            "Serving",
            definition=FUNCTIONS["serving"],
            function_name=names.function("serving"),
            code=packager.image_code("serving"),
            environment=environment,
            log_retention=log_retention,
            arns=arns,
            memory_mb=config.serving_memory_mb,
            tracing=config.serving_tracing,
        )

        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=f"/aws/apigateway/{names.stack}-api",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigw.HttpApi(
            self,
            "Api",
            api_name=f"{names.stack}-inference",
            description="driftline inference API (Open Inference Protocol v2)",
            create_default_stage=False,
        )
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=config.api_throttle_rate, burst_limit=config.api_throttle_burst),
        )
        cfn_stage = default_child(self.stage, apigw.CfnStage)
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn,
            format=ACCESS_LOG_FORMAT if config.api_access_logs == "full" else LEAN_ACCESS_LOG_FORMAT,
        )

        integration = integrations.HttpLambdaIntegration("Serving", self.serving.function)
        authorizer = self._authorizer(config)
        self.routes: list[apigw.HttpRoute] = []
        for method, path in ROUTES:
            self.routes.extend(
                self.api.add_routes(
                    path=path,
                    methods=[getattr(apigw.HttpMethod, method)],
                    integration=integration,
                    authorizer=authorizer,
                )
            )
        # Everything else reaches the function too (behind the same authorisation), so a known path asked with
        # another method gets its 405 with Allow and an unknown one the list of routes, instead of API Gateway's
        # bare 404 {"message": "Not Found"}.
        self.routes.append(
            apigw.HttpRoute(
                self,
                "DefaultRoute",
                http_api=self.api,
                route_key=apigw.HttpRouteKey.DEFAULT,
                integration=integration,
                authorizer=authorizer,
            )
        )

    @staticmethod
    def _authorizer(config: StackConfig) -> apigw.IHttpRouteAuthorizer:
        if config.api_auth == "iam":
            return authorizers.HttpIamAuthorizer()
        if config.api_auth == "jwt":
            return authorizers.HttpJwtAuthorizer(
                "Jwt", config.jwt_issuer, jwt_audience=list(config.jwt_audience), authorizer_name="driftline-jwt"
            )
        return apigw.HttpNoneAuthorizer()

    @property
    def url(self) -> str:
        return self.api.api_endpoint

    def execute_api_arn(self) -> str:
        return self.api.arn_for_execute_api()
