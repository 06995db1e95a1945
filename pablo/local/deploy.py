"""`pablo local deploy`: the real `cdk deploy` into the emulator, then what moto skipped.

0. ask the target's STS which account it acts in (`get_caller_identity`): the emulator,
   LocalStack or any endpoint; the app is synthesized for that account (`-c account=ID`);
1. build the Lambda assets (`python -m infra.lambda_build`, when the app has it);
2. `cdk synth` once with `-c env=local -c account=ID`; from the cloud assembly, either
   create the file assets bucket (CliCredentialsStackSynthesizer) or `cdk bootstrap`
   (default synthesizer);
   rewrite the assembly's template where the pinned moto breaks (`pablo.local.moto_template`);
3. `cdk deploy --require-approval never --method direct` with the real CDK CLI pointed at
   the emulator, its progress streamed to the terminal (custom resources are answered by
   `pablo.local.custom_resources`);
4. read the deployed template back, check every resource moto claims through its own API,
   create with boto3 what moto silently skipped (`pablo.local.skipped`), re-apply the
   properties it ignored;
5. print the fidelity report and save it as JSON (`$PABLO_HOME/local/fidelity.json`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from functions.core.errors import ConfigurationError, PabloError
from infra.config import ACCOUNT_CONTEXT_KEY
from pablo.local import fidelity
from pablo.local.cfn_resolve import StackFacts, evaluate_condition, references, resolve
from pablo.local.context import LOCAL_CREDENTIALS, LOCAL_REGION, local_client
from pablo.local.custom_resources import CustomResourceResponder
from pablo.local.live import (
    ClientFor,
    Located,
    attributes_of,
    find_layer_version_arn,
    is_live,
)
from pablo.local.moto_template import adapt_for_moto
from pablo.local.skipped import CREATORS, PATCHES, Live, Skipped
from pablo.local.state import local_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"
ASSET_BUILD_MODULE = "infra.lambda_build"
DEFAULT_STACK = "PabloPipelines"
DEFAULT_CONTEXT: Mapping[str, str] = {"env": "local"}
BOOTSTRAP_STACK = "CDKToolkit"
ASSEMBLIES_DIR = Path("build") / "cdk-local"
FIDELITY_FILE = "fidelity.json"
LAYER_VERSION = "AWS::Lambda::LayerVersion"


class DeployError(PabloError):
    """The CDK CLI or the emulator refused the deploy."""

    reason = "deploy_failed"


@dataclass(frozen=True)
class Target:
    """Where the deploy goes: the endpoint and the account its STS says the credentials
    act in (moto answers 123456789012 unless started with MOTO_ACCOUNT_ID; LocalStack
    answers 000000000000 for the fake credentials)."""

    endpoint: str
    account: str
    region: str = LOCAL_REGION


def target_at(endpoint: str, client_for: ClientFor) -> Target:
    """The target's account, from `sts.get_caller_identity()` on that endpoint."""
    try:
        account = str(client_for("sts").get_caller_identity()["Account"])
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(f"STS GetCallerIdentity failed at {endpoint}: {exc}") from exc
    return Target(endpoint=endpoint, account=account)


@dataclass(frozen=True)
class StackArtifact:
    """The stack to deploy, as the cloud assembly describes it."""

    artifact_id: str
    display_name: str
    stack_name: str  # the CloudFormation stack's name
    needs_bootstrap: bool
    asset_buckets: tuple[str, ...]
    template_file: Path


def deploy(
    endpoint: str,
    *,
    stack_name: str = DEFAULT_STACK,
    app_dir: Path = REPO_ROOT,
    context: Mapping[str, str] = DEFAULT_CONTEXT,
    report_path: Path | None = None,
) -> int:
    """Deploy the CDK app in `app_dir` to the AWS API at `endpoint` (the embedded emulator,
    LocalStack, ...) in the account its STS reports; 0 when complete.

    Returns 1 when the stack deployed but a skipped resource could not be created (the
    fidelity report says which and why). Raises DeployError when the CDK CLI fails.
    """
    client_for = emulator_clients(endpoint)
    target = target_at(endpoint, client_for)
    print(f"deploying to {endpoint}, account {target.account} (from STS), {target.region}")
    context = {**context, ACCOUNT_CONTEXT_KEY: target.account}
    # The CLI caches the account of an access key in $CDK_HOME: the same fake key meets
    # other accounts on other targets (moto with MOTO_ACCOUNT_ID, LocalStack).
    with tempfile.TemporaryDirectory(prefix="pablo-cdk-home-") as cdk_home:
        environment = cdk_environment(target, Path(cdk_home))
        entries, artifact, observed = _synth_and_deploy(
            client_for, target, environment, stack_name=stack_name, app_dir=app_dir, context=context
        )
    print(fidelity.render(entries))
    document = fidelity.to_document(entries, stack_name=artifact.stack_name, endpoint=endpoint)
    saved = fidelity.save(document, report_path or local_dir() / FIDELITY_FILE)
    print(f"fidelity report saved to {saved}")
    if observed.failed:
        print(
            f"pablo: {len(observed.failed)} skipped resource(s) could not be created",
            file=sys.stderr,
        )
        return 1
    return 0


def _synth_and_deploy(
    client_for: ClientFor,
    target: Target,
    environment: Mapping[str, str],
    *,
    stack_name: str,
    app_dir: Path,
    context: Mapping[str, str],
) -> tuple[list[fidelity.ResourceFidelity], StackArtifact, fidelity.Observation]:
    endpoint = target.endpoint
    build_assets(app_dir, environment)
    assembly = assembly_dir(app_dir, endpoint)
    if (assembly / ".cache").is_symlink():  # earlier versions linked it to a shared folder
        (assembly / ".cache").unlink()
    try:
        run_cdk(
            ["synth", "--quiet", "--output", str(assembly), *_context_args(context)],
            app_dir=app_dir,
            environment=environment,
        )
        artifact = read_stack_artifact(assembly, stack_name, target)
        template, adaptations = adapt_assembly_for_moto(artifact)
        prepare_target(artifact, client_for, target, app_dir=app_dir, environment=environment)
        with CustomResourceResponder(endpoint, client_for, artifact.stack_name):
            run_cdk(_deploy_arguments(artifact, assembly), app_dir=app_dir, environment=environment)
        entries, observed = complete_stack(
            client_for,
            artifact.stack_name,
            template=template,
            adaptations=adaptations,
        )
    finally:
        _drop_asset_copies(assembly)
    return entries, artifact, observed


def _drop_asset_copies(assembly: Path) -> None:
    """Each assembly holds a copy of every asset (the layer's zip alone is 66 MiB), read
    only while deploying; the templates stay for whoever inspects the deploy."""
    if assembly.is_dir():
        for child in assembly.glob("asset.*"):
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)  # a zip staged as it is (the layer)


def assembly_dir(app_dir: Path, endpoint: str) -> Path:
    """Where the local cloud assembly goes: one per emulator, because the CDK CLI refuses
    two syntheses into one directory (two emulators may be deployed to at once)."""
    where = urlparse(endpoint)
    return app_dir / ASSEMBLIES_DIR / f"{where.hostname}-{where.port}"


def emulator_clients(endpoint: str) -> ClientFor:
    """One boto3 client per service for the emulator at `endpoint`, made on first use."""
    return cache(partial(local_client, endpoint=endpoint))


# -- the CDK CLI ----------------------------------------------------------------------------


def cdk_environment(target: Target, cdk_home: Path) -> dict[str, str]:
    """The CLI's environment: the target's endpoint and account, path-style S3, fake
    credentials, its own CDK_HOME (caches), quiet."""
    endpoint = target.endpoint
    environment = dict(os.environ)
    environment.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ENDPOINT_URL_S3": endpoint,
            # The CLI forces path style for loopback endpoints; this covers any other host.
            "CDK_S3_FORCE_PATH_STYLE": "1",
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": target.region,
            "AWS_DEFAULT_REGION": target.region,
            "CDK_DEFAULT_ACCOUNT": target.account,
            "CDK_DEFAULT_REGION": target.region,
            "CDK_HOME": str(cdk_home),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            # The JS SDK warns on Node 20 on every call; the warning says nothing new here.
            "NODE_NO_WARNINGS": "1",
            # The app runs with this interpreter, as the Makefile puts the venv first.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE"):
        environment.pop(name, None)
    return environment


def run_cdk(arguments: Sequence[str], *, app_dir: Path, environment: Mapping[str, str]) -> None:
    """Run the pinned CDK CLI, its output streamed to this terminal."""
    if not CDK_CLI.exists():
        raise ConfigurationError(f"{CDK_CLI} is missing: run `npm ci` (or `make setup`)")
    command = [str(CDK_CLI), *arguments, "--no-notices"]
    print(f"$ cdk {' '.join(arguments)}", flush=True)
    result = subprocess.run(command, cwd=app_dir, env=dict(environment), check=False)
    if result.returncode != 0:
        raise DeployError(f"`cdk {arguments[0]}` failed with exit code {result.returncode}")


def _deploy_arguments(artifact: StackArtifact, assembly: Path) -> list[str]:
    # Direct, not a change set: see pablo.local.custom_resources for why.
    return [
        *("deploy", artifact.display_name, "--app", str(assembly)),
        *("--require-approval", "never", "--progress", "events", "--method", "direct"),
    ]


def _context_args(context: Mapping[str, str]) -> list[str]:
    return [argument for key, value in context.items() for argument in ("-c", f"{key}={value}")]


def build_assets(app_dir: Path, environment: Mapping[str, str]) -> None:
    """The Lambda code and layer directories the app points at, rebuilt for every deploy."""
    module_file = app_dir / Path(*ASSET_BUILD_MODULE.split(".")).with_suffix(".py")
    if not module_file.exists():
        return
    print(f"$ python -m {ASSET_BUILD_MODULE}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", ASSET_BUILD_MODULE], cwd=app_dir, env=dict(environment), check=False
    )
    if result.returncode != 0:
        raise DeployError(f"the Lambda asset build failed (exit code {result.returncode})")


# -- the cloud assembly -----------------------------------------------------------------------


def read_stack_artifact(assembly: Path, stack_name: str, target: Target) -> StackArtifact:
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    artifacts: dict[str, Any] = manifest.get("artifacts", {})
    for artifact_id, artifact in artifacts.items():
        properties = artifact.get("properties", {})
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        if stack_name not in (artifact_id, properties.get("stackName")):
            continue
        buckets = _asset_buckets(assembly, artifacts, artifact.get("dependencies", []), target)
        return StackArtifact(
            artifact_id=artifact_id,
            display_name=str(artifact.get("displayName", artifact_id)),
            stack_name=str(properties.get("stackName", artifact_id)),
            needs_bootstrap="requiresBootstrapStackVersion" in properties,
            template_file=assembly / str(properties["templateFile"]),
            asset_buckets=buckets,
        )
    stacks = sorted(
        key for key, value in artifacts.items() if value.get("type") == "aws:cloudformation:stack"
    )
    raise ConfigurationError(f"stack {stack_name!r} is not in the CDK app; it has {stacks}")


def _asset_buckets(
    assembly: Path, artifacts: Mapping[str, Any], dependencies: Sequence[str], target: Target
) -> tuple[str, ...]:
    buckets: set[str] = set()
    for dependency in dependencies:
        artifact = artifacts.get(dependency, {})
        if artifact.get("type") != "cdk:asset-manifest":
            continue
        assets = json.loads((assembly / artifact["properties"]["file"]).read_text())
        if assets.get("dockerImages"):
            raise ConfigurationError(
                "the stack has Docker image assets: the local deploy has no Docker engine"
            )
        for asset in assets.get("files", {}).values():
            for destination in asset.get("destinations", {}).values():
                buckets.add(_fill_placeholders(str(destination["bucketName"]), target))
    return tuple(sorted(buckets))


def adapt_assembly_for_moto(artifact: StackArtifact) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Rewrite the assembly's template where moto breaks (`pablo.local.moto_template`);
    returns the template as the app wrote it, which the fidelity report describes."""
    template: dict[str, Any] = json.loads(artifact.template_file.read_text(encoding="utf-8"))
    adapted, adaptations = adapt_for_moto(template)
    artifact.template_file.write_text(json.dumps(adapted, indent=1), encoding="utf-8")
    return template, adaptations


def _fill_placeholders(text: str, target: Target) -> str:
    return (
        text.replace("${AWS::AccountId}", target.account)
        .replace("${AWS::Region}", target.region)
        .replace("${AWS::Partition}", "aws")
    )


def prepare_target(
    artifact: StackArtifact,
    client_for: ClientFor,
    target: Target,
    *,
    app_dir: Path,
    environment: Mapping[str, str],
) -> None:
    """Bootstrap the emulator for the default synthesizer; else create the assets bucket."""
    if artifact.needs_bootstrap:
        if not _stack_exists(client_for, BOOTSTRAP_STACK):
            run_cdk(
                ["bootstrap", f"aws://{target.account}/{target.region}", "--progress", "events"],
                app_dir=app_dir,
                environment=environment,
            )
        return
    s3 = client_for("s3")
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for bucket in artifact.asset_buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
            print(f"created file assets bucket {bucket}")


def _stack_exists(client_for: ClientFor, stack_name: str) -> bool:
    try:
        stacks = client_for("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError:
        return False
    return any(not stack["StackStatus"].startswith("DELETE") for stack in stacks)


# -- after the CLI: verify, create what was skipped, report -------------------------------------


@dataclass
class DeployedStack:
    facts: StackFacts
    resources: dict[str, dict[str, Any]]
    physical_ids: dict[str, str]


def read_deployed_stack(
    client_for: ClientFor, stack_name: str, template: Mapping[str, Any] | None = None
) -> DeployedStack:
    """The deployed stack's resources and facts; `template` is the app's own template
    (before `adapt_for_moto`), read back from the stack when not given. The account and
    region are the stack's own (its ARN), as `AWS::AccountId` resolves in CloudFormation."""
    cloudformation = client_for("cloudformation")
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if template is None:
        body = cloudformation.get_template(StackName=stack_name)["TemplateBody"]
        template = json.loads(body) if isinstance(body, str) else dict(body)
    parameters = {
        parameter["ParameterKey"]: parameter.get("ResolvedValue", parameter.get("ParameterValue"))
        for parameter in stack.get("Parameters", [])
    }
    _, _, _, region, account, _ = stack["StackId"].split(":", 5)
    facts = StackFacts(
        account=account,
        region=region,
        stack_name=stack_name,
        stack_id=stack["StackId"],
        parameters=parameters,
    )
    for name, default in template.get("Parameters", {}).items():
        facts.parameters.setdefault(name, str(default.get("Default", "")))
    conditions = template.get("Conditions", {})
    facts.conditions = {
        name: evaluate_condition(expression, conditions, facts)
        for name, expression in conditions.items()
    }
    resources = {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if facts.conditions.get(resource.get("Condition", ""), True)
    }
    # moto lists skipped resources as entries with no logical id at all.
    listed = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    physical_ids = {
        entry["LogicalResourceId"]: entry.get("PhysicalResourceId") or ""
        for entry in listed
        if "LogicalResourceId" in entry
    }
    return DeployedStack(facts, resources, physical_ids)


def complete_stack(
    client_for: ClientFor,
    stack_name: str,
    *,
    template: Mapping[str, Any] | None = None,
    adaptations: Mapping[str, list[str]] | None = None,
) -> tuple[list[fidelity.ResourceFidelity], fidelity.Observation]:
    """Verify what moto created, create what it skipped, re-apply what it ignored."""
    stack = read_deployed_stack(client_for, stack_name, template)
    observed = fidelity.Observation()
    for logical_id, notes in (adaptations or {}).items():
        observed.actions[logical_id] = list(notes)
    _locate_layers(client_for, stack)
    for logical_id, physical_id in stack.physical_ids.items():
        if physical_id and logical_id in stack.resources:
            stack.facts.attributes[logical_id] = attributes_of(_located(stack, logical_id))
            stack.facts.refs[logical_id] = stack.facts.attributes[logical_id]["Ref"]
    for logical_id in _creation_order(stack.resources):
        resource_type = stack.resources[logical_id]["Type"]
        physical_id = stack.physical_ids.get(logical_id, "")
        if is_live(client_for, _located(stack, logical_id, resolved=True)):
            observed.live[logical_id] = physical_id or logical_id
            _patch(client_for, stack, logical_id, observed)
        elif resource_type in CREATORS:
            _create(client_for, stack, logical_id, observed)
    return fidelity.classify(stack.resources, observed), observed


def _locate_layers(client_for: ClientFor, stack: DeployedStack) -> None:
    """moto creates layer versions but reports no physical id for them: find them by name."""
    for logical_id, resource in stack.resources.items():
        if resource["Type"] == LAYER_VERSION:
            _locate_layer(client_for, stack, logical_id)


def _locate_layer(client_for: ClientFor, stack: DeployedStack, logical_id: str) -> None:
    """Point the layer's physical id, Ref and attributes at its latest version."""
    name = (stack.resources[logical_id].get("Properties") or {}).get("LayerName")
    prefix = name if isinstance(name, str) else f"{stack.facts.stack_name}-{logical_id}-"
    arn = find_layer_version_arn(client_for, layer_name_prefix=prefix)
    if arn:
        stack.physical_ids[logical_id] = arn
        stack.facts.refs[logical_id] = arn
        stack.facts.attributes[logical_id] = {"Ref": arn, "LayerVersionArn": arn}


def _located(stack: DeployedStack, logical_id: str, *, resolved: bool = False) -> Located:
    resource = stack.resources[logical_id]
    properties = resource.get("Properties") or {}
    if resolved:
        properties = _try_resolve(properties, stack.facts)
    return Located(
        logical_id=logical_id,
        resource_type=resource["Type"],
        physical_id=stack.physical_ids.get(logical_id, ""),
        properties=properties,
        account=stack.facts.account,
        region=stack.facts.region,
    )


def _try_resolve(properties: Mapping[str, Any], facts: StackFacts) -> dict[str, Any]:
    """Resolved properties; for a check only, so an unresolvable one is left as written."""
    resolved: dict[str, Any] = {}
    for key, value in properties.items():
        try:
            resolved[key] = resolve(value, facts)
        except PabloError:
            resolved[key] = value
    return resolved


def _creation_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Template resources, each after those it refers to or depends on."""
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        depends = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        graph[logical_id] = (references(resource.get("Properties", {})) | depends) & set(resources)
    return list(TopologicalSorter(graph).static_order())


def _create(
    client_for: ClientFor,
    stack: DeployedStack,
    logical_id: str,
    observed: fidelity.Observation,
) -> None:
    resource = stack.resources[logical_id]
    try:
        properties = resolve(resource.get("Properties") or {}, stack.facts)
        item = Skipped(
            logical_id=logical_id,
            resource_type=resource["Type"],
            properties=properties,
            stack_name=stack.facts.stack_name,
            account=stack.facts.account,
            region=stack.facts.region,
        )
        outcome = CREATORS[resource["Type"]](client_for, item)
    except (PabloError, ClientError, BotoCoreError, KeyError, ValueError) as exc:
        observed.failed[logical_id] = f"{type(exc).__name__}: {exc}"
        print(f"pablo: could not create {logical_id} ({resource['Type']}): {exc}", file=sys.stderr)
        return
    observed.created[logical_id] = outcome.physical_id
    observed.actions.setdefault(logical_id, []).append(outcome.action)
    stack.physical_ids[logical_id] = outcome.physical_id
    stack.facts.attributes[logical_id] = outcome.attributes
    stack.facts.refs[logical_id] = outcome.attributes.get("Ref", outcome.physical_id)


def _patch(
    client_for: ClientFor,
    stack: DeployedStack,
    logical_id: str,
    observed: fidelity.Observation,
) -> None:
    resource = stack.resources[logical_id]
    patch = PATCHES.get(resource["Type"])
    if patch is None:
        return
    item = Live(
        logical_id=logical_id,
        resource_type=resource["Type"],
        physical_id=stack.physical_ids[logical_id],
        properties=_try_resolve(resource.get("Properties") or {}, stack.facts),
    )
    try:
        done = patch(client_for, item)
    except (ClientError, BotoCoreError, KeyError, ValueError) as exc:
        done = [f"could not re-apply ignored settings: {exc}"]
    if done and resource["Type"] == LAYER_VERSION:
        _locate_layer(client_for, stack, logical_id)  # a new version was published
        observed.live[logical_id] = stack.physical_ids[logical_id]
    observed.actions.setdefault(logical_id, []).extend(done)
