"""Sign requests with real botocore and print them as JSON, for botocore_test.go.

Prints a list of {"name", "service", "method", "url", "headers", "body"} objects, one per
request, exactly as botocore would put them on the wire. Credentials come from argv:
    botocore_sign.py AKID SECRET TEMP_AKID TEMP_SECRET TOKEN
"""

import json
import sys

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-west-2"
EKS = "https://eks.us-west-2.amazonaws.com"
K8S_AWS_ID_HEADER = "x-k8s-aws-id"

akid, secret, temp_akid, temp_secret, token = sys.argv[1:6]
root = Credentials(akid, secret)
temp = Credentials(temp_akid, temp_secret, token)
out = []


def emit(name, service, method, url, headers, body):
    if isinstance(body, str):
        body = body.encode()
    out.append({
        "name": name,
        "service": service,
        "method": method,
        "url": url,
        "headers": {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()},
        "body": (body or b"").decode("latin-1"),
    })


# 1. botocore.auth.SigV4Auth on a hand-built AWSRequest.
def sigv4(name, creds, method, url, data=None, headers=None):
    req = AWSRequest(method=method, url=url, data=data, headers=headers or {})
    SigV4Auth(creds, "eks", REGION).add_auth(req)
    prepared = req.prepare()
    emit(name, "eks", prepared.method, prepared.url, prepared.headers, prepared.body)


json_hdr = {"Content-Type": "application/json"}
sigv4("sigv4 list clusters", root, "GET", EKS + "/clusters?maxResults=10&include=all")
sigv4("sigv4 create cluster", root, "POST", EKS + "/clusters", b'{"name":"demo"}', json_hdr)
sigv4("sigv4 space in path", root, "GET", EKS + "/clusters/my%20cluster")
sigv4("sigv4 escaped arn", root, "POST",
      EKS + "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A000000000000%3Acluster%2Fdemo", b'{"tags":{"a":"b"}}', json_hdr)
sigv4("sigv4 tag keys", root, "DELETE",
      EKS + "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A000000000000%3Acluster%2Fdemo?tagKeys=a&tagKeys=b")
sigv4("sigv4 session token", temp, "GET", EKS + "/clusters/demo")
sigv4("sigv4 dot segments", root, "GET", EKS + "/clusters//demo/./x/../")
# With a Date header botocore signs "date" (RFC 1123, "-0000" zone) instead of X-Amz-Date.
sigv4("sigv4 date header", root, "GET", EKS + "/clusters", headers={"Date": "now"})


# 2. Real clients; before-send captures the request as it would go out, then aborts.
class Captured(Exception):
    pass


def capture(name, service):
    def handler(request, **kwargs):
        emit(name, service, request.method, request.url, request.headers, request.body)
        raise Captured()
    return handler


def client(service, creds, endpoint_url=None):
    session = botocore.session.get_session()
    return session.create_client(
        service, region_name=REGION, endpoint_url=endpoint_url,
        aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.token)


def call(case, service, creds, op, **params):
    c = client(service, creds)
    c.meta.events.register("before-send", capture(case, service))
    try:
        getattr(c, op)(**params)
    except Captured:
        pass


arn = "arn:aws:eks:us-west-2:000000000000:cluster/demo"
call("eks client describe cluster", "eks", root, "describe_cluster", name="my cluster")
call("eks client tag resource", "eks", temp, "tag_resource", resourceArn=arn, tags={"team": "a b/c"})
call("eks client untag resource", "eks", root, "untag_resource", resourceArn=arn, tagKeys=["b", "a", "x y"])
call("eks client list clusters", "eks", root, "list_clusters", maxResults=10)
call("sts client get caller identity", "sts", root, "get_caller_identity")
call("sts client session token", "sts", temp, "get_caller_identity")


# 3. A presigned GetCallerIdentity URL exactly as `aws eks get-token` makes it
#    (awscli/customizations/eks/get_token.py).
def get_token_url(creds, endpoint_url, cluster):
    sts = client("sts", creds, endpoint_url)

    def retrieve_k8s_aws_id(params, context, **kwargs):
        if K8S_AWS_ID_HEADER in params:
            context[K8S_AWS_ID_HEADER] = params.pop(K8S_AWS_ID_HEADER)

    def inject_k8s_aws_id_header(request, **kwargs):
        if K8S_AWS_ID_HEADER in request.context:
            request.headers[K8S_AWS_ID_HEADER] = request.context[K8S_AWS_ID_HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", retrieve_k8s_aws_id)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", inject_k8s_aws_id_header)
    return sts.generate_presigned_url(
        "get_caller_identity", Params={K8S_AWS_ID_HEADER: cluster}, ExpiresIn=60, HttpMethod="GET")


for name, creds, endpoint in [
    ("get-token regional", root, None),
    ("get-token session token", temp, None),
    ("get-token custom endpoint", root, "http://127.0.0.1:8443"),
]:
    emit(name, "sts", "GET", get_token_url(creds, endpoint, "demo"), {K8S_AWS_ID_HEADER: "demo"}, None)

json.dump(out, sys.stdout, indent=1)
