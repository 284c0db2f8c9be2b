"""A local S3 server for the tests: moto's server mode (the S3 protocol as
boto3 and AWS speak it, in one process, in memory).

    python3 moto_s3.py [--auth] BUCKET...

Creates the buckets, prints one JSON line ({"port", "access_key",
"secret_key"}) and serves until its stdin closes (the test process ended).
With --auth, requests must be signed (SigV4) with the printed key pair of
an IAM user allowed everything; any other key is refused (403), as AWS does.
Without it, moto accepts any signed request.
"""
import json
import os
import sys

os.environ.setdefault("AWS_ACCESS_KEY_ID", "nightjar-test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "nightjar-test-secret")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
import urllib.request  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402


def _requote_signed_query() -> None:
    """moto (5.x) checks a signature against the query string as it
    decoded it (`delimiter=/`), while clients sign it encoded
    (`delimiter=%2F`, as SigV4 says), so every listing of a prefix was
    refused with SignatureDoesNotMatch. Encode it again before checking."""
    from urllib.parse import parse_qsl, quote, urlsplit

    from moto.iam import access_control

    original = access_control.IAMRequestBase._create_aws_request

    def create(self):  # type: ignore[no-untyped-def]
        request = original(self)
        parts = urlsplit(request.url)
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
            request.url = parts._replace(query=query).geturl()
        return request

    access_control.IAMRequestBase._create_aws_request = create


def main() -> None:
    auth = "--auth" in sys.argv[1:]
    if auth:
        _requote_signed_query()
    buckets = [a for a in sys.argv[1:] if not a.startswith("--")]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    if not os.environ.get("NIGHTJAR_MOTO_LOG"):
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for b in buckets:
        s3.create_bucket(Bucket=b)
    key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    if auth:
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        iam.create_user(UserName="nightjar")
        iam.put_user_policy(
            UserName="nightjar",
            PolicyName="all",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        )
        k = iam.create_access_key(UserName="nightjar")["AccessKey"]
        key, secret = k["AccessKeyId"], k["SecretAccessKey"]
        # From now on every request is authenticated and authorised.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}, method="POST")).read()
    print(json.dumps({"port": port, "access_key": key, "secret_key": secret}), flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
