"""CloudFormation intrinsics and Serverless variables are values known as far as the
template says, never errors."""

from __future__ import annotations

import time

from ddcompat.shared.parsers import _intrinsics, parse_text

LAYER = {
    "Fn::Join": [
        "",
        ["arn:aws:lambda:", {"Ref": "AWS::Region"}, ":464622532012:layer:Datadog-Python311:89"],
    ]
}


def test_cfn_values_known_as_far_as_the_template_says() -> None:
    resolve = _intrinsics.cfn_resolver(
        {"Env": {"Type": "String", "Default": "prod"}, "On": {"Default": True}}
    )
    assert resolve(LAYER) == "arn:aws:lambda:${AWS::Region}:464622532012:layer:Datadog-Python311:89"
    assert resolve({"Ref": "Env"}) == "prod"
    assert resolve({"Ref": "On"}) == "true"
    assert resolve({"Ref": "SomeBucket"}) is None  # a resource: known at deploy time
    assert resolve({"Fn::Sub": "svc-${Env}-${AWS::Region}"}) == "svc-prod-${AWS::Region}"
    assert resolve({"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "Env"}}]}) == "prod-x"
    assert resolve({"Fn::Sub": "${Bucket.Arn}"}) == "${Bucket.Arn}"
    assert resolve({"Fn::Join": [":", ["a", {"Fn::GetAtt": ["X", "Arn"]}]]}) is None
    assert resolve({"Fn::If": ["C", "a", "b"]}) is None
    assert resolve({"Fn::ImportValue": "x"}) is None
    assert resolve({"Environment": {"Variables": {"A": {"Ref": "Env"}}}}) == {
        "Environment": {"Variables": {"A": "prod"}}
    }


def test_deep_or_wide_values_stay_bounded() -> None:
    deep: object = "x"
    for _ in range(5000):
        deep = {"Fn::Join": ["", [deep]]}
    resolve = _intrinsics.cfn_resolver({})
    started = time.perf_counter()
    assert resolve(deep) is None  # deeper than any template: not known
    wide = {"Fn::Join": ["", ["a"] * 200_000]}
    assert resolve(wide) is None  # longer than 64 KiB once joined
    assert time.perf_counter() - started < 2.0


def test_serverless_variables_from_the_file_itself() -> None:
    doc = {
        "service": "shop",
        "custom": {"layer": 127, "py": "python3.12", "nested": "${self:custom.layer}"},
        "provider": {"name": "aws", "runtime": "${self:custom.py}"},
    }
    resolve = _intrinsics.serverless_resolver(doc)
    assert resolve("${self:custom.py}") == "python3.12"
    assert resolve("layer:${self:custom.layer}") == "layer:127"
    assert resolve("${self:custom.nested}") == "127"
    assert resolve("${ssm:/dd/api-key}") is None
    assert resolve("${param:stage, 'dev'}") == "dev"
    assert resolve("x-${param:stage}") == "x-${param:stage}"
    assert resolve({"Ref": "Topic"}) is None


def test_a_serverless_layer_pinned_through_custom_is_read() -> None:
    text = """
service: signup
provider: {name: aws, runtime: python3.12, environment: {TOPIC: !Ref Topic}}
custom: {ddLayer: "arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Python312:128"}
functions:
  handler:
    handler: app.handler
    layers: ["${self:custom.ddLayer}"]
    environment: {DD_APPSEC_ENABLED: "true", QUEUE: {"Fn::GetAtt": [Queue, Arn]}}
"""
    out = parse_text(text, "serverless.yml", suffix=".yml", path=None, explicit=True)
    assert not out.errors
    [w] = out.workloads
    assert w.facts.ddtrace == "4.15.2"  # layer 128's release notes
    assert "threat_detection" in w.facts.features
