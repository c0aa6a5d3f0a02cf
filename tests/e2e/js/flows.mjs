// IAM, STS and CloudTrail flows with the AWS SDK for JavaScript v3 against iamd, with no
// workaround: the SDK's own serializers, signers, paginators and error classes.
// Environment: IAMD_ENDPOINT, IAMD_ACCOUNT, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (root's).
// Prints one JSON line {"checks": N} and exits 0 when every check held; otherwise prints the
// failed check and exits 1.
import crypto from "node:crypto";
import {
  IAMClient, CreateUserCommand, GetUserCommand, CreateAccessKeyCommand, CreateVirtualMFADeviceCommand,
  EnableMFADeviceCommand, ListMFADevicesCommand, CreateRoleCommand, GetRoleCommand, PutUserPolicyCommand,
  CreatePolicyCommand, ListPolicyTagsCommand, GetAccountSummaryCommand, DeleteVirtualMFADeviceCommand,
  DeactivateMFADeviceCommand, paginateListUsers, NoSuchEntityException, MalformedPolicyDocumentException,
} from "@aws-sdk/client-iam";
import { STSClient, GetCallerIdentityCommand, AssumeRoleCommand, GetSessionTokenCommand, GetAccessKeyInfoCommand } from "@aws-sdk/client-sts";
import { CloudTrailClient, LookupEventsCommand, paginateLookupEvents } from "@aws-sdk/client-cloudtrail";

const endpoint = process.env.IAMD_ENDPOINT;
const account = process.env.IAMD_ACCOUNT;
const root = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };
const cfg = (credentials) => ({ endpoint, region: "us-east-1", credentials, maxAttempts: 1 });
let checks = 0;
function check(ok, what) {
  checks += 1;
  if (!ok) {
    console.log(JSON.stringify({ failed: what, checks }));
    process.exit(1);
  }
}
async function refused(promise, errorClass, what) {
  try {
    await promise;
  } catch (e) {
    check(e instanceof errorClass, `${what}: ${e.name} ${e.message}`);
    return e;
  }
  check(false, `${what}: not refused`);
}

function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of text.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
function totp(seed, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac("sha1", seed).update(counter).digest();
  const off = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}
const nowStep = () => Math.floor(Date.now() / 1000 / 30);

const iam = new IAMClient(cfg(root));
const sts = new STSClient(cfg(root));
const trail = new CloudTrailClient(cfg(root));

// Users, paginators, keys.
for (let i = 0; i < 5; i++) await iam.send(new CreateUserCommand({ UserName: `js-${i}`, Path: "/js/" }));
const names = [];
for await (const page of paginateListUsers({ client: iam, pageSize: 2 }, { PathPrefix: "/js/" })) names.push(...page.Users.map((u) => u.UserName));
check(JSON.stringify(names) === JSON.stringify(["js-0", "js-1", "js-2", "js-3", "js-4"]), `ListUsers paginator: ${names}`);
const me = await sts.send(new GetCallerIdentityCommand({}));
check(me.Account === account && me.Arn === `arn:aws:iam::${account}:root`, `GetCallerIdentity: ${me.Arn}`);
await refused(iam.send(new GetUserCommand({ UserName: "nobody" })), NoSuchEntityException, "GetUser of nobody");
const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "js-0" }))).AccessKey;
const user = { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
const info = await sts.send(new GetAccessKeyInfoCommand({ AccessKeyId: key.AccessKeyId }));
check(info.Account === account, "GetAccessKeyInfo");

// Two devices for one user; either signs in.
const devices = [];
for (const name of ["js-phone", "js-tablet"]) {
  const d = (await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: name }))).VirtualMFADevice;
  const seed = base32(Buffer.from(d.Base32StringSeed).toString("ascii"));
  const n = nowStep();
  await iam.send(new EnableMFADeviceCommand({ UserName: "js-0", SerialNumber: d.SerialNumber, AuthenticationCode1: totp(seed, n - 1), AuthenticationCode2: totp(seed, n) }));
  devices.push({ serial: d.SerialNumber, seed });
}
const listed = (await iam.send(new ListMFADevicesCommand({ UserName: "js-0" }))).MFADevices.map((d) => d.SerialNumber).sort();
check(JSON.stringify(listed) === JSON.stringify(devices.map((d) => d.serial).sort()), `ListMFADevices: ${listed}`);

// A role that requires MFA, assumed with the first device; a session with the second.
const trust = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: "sts:AssumeRole", Condition: { Bool: { "aws:MultiFactorAuthPresent": "true" } } }] };
await iam.send(new CreateRoleCommand({ RoleName: "js-admin", AssumeRolePolicyDocument: JSON.stringify(trust) }));
check(Object.keys((await iam.send(new GetRoleCommand({ RoleName: "js-admin" }))).Role.RoleLastUsed ?? {}).length === 0, "RoleLastUsed empty before use");
await iam.send(new PutUserPolicyCommand({ UserName: "js-0", PolicyName: "assume", PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }] }) }));
const userSts = new STSClient(cfg(user));
const roleArn = `arn:aws:iam::${account}:role/js-admin`;
try {
  await userSts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "js" }));
  check(false, "AssumeRole without MFA was allowed");
} catch (e) {
  check(e.name === "AccessDenied", `AssumeRole without MFA: ${e.name}`);
}
const assumed = await userSts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "js", SerialNumber: devices[0].serial, TokenCode: totp(devices[0].seed, nowStep() + 1) }));
const roleCreds = { accessKeyId: assumed.Credentials.AccessKeyId, secretAccessKey: assumed.Credentials.SecretAccessKey, sessionToken: assumed.Credentials.SessionToken };
const asRole = await new STSClient(cfg(roleCreds)).send(new GetCallerIdentityCommand({}));
check(asRole.Arn === `arn:aws:sts::${account}:assumed-role/js-admin/js`, `role identity: ${asRole.Arn}`);
const sess = await userSts.send(new GetSessionTokenCommand({ SerialNumber: devices[1].serial, TokenCode: totp(devices[1].seed, nowStep() + 1), DurationSeconds: 900 }));
check(sess.Credentials.AccessKeyId.startsWith("ASIA") && sess.Credentials.Expiration instanceof Date, "GetSessionToken with the second device");

// A lost device is removed; the other still works (its next code is for a later step).
await iam.send(new DeactivateMFADeviceCommand({ UserName: "js-0", SerialNumber: devices[1].serial }));
await iam.send(new DeleteVirtualMFADeviceCommand({ SerialNumber: devices[1].serial }));
const left = (await iam.send(new ListMFADevicesCommand({ UserName: "js-0" }))).MFADevices.map((d) => d.SerialNumber);
check(JSON.stringify(left) === JSON.stringify([devices[0].serial]), `after removing one device: ${left}`);

// Policies with tags; a malformed one is refused with the SDK's typed error; account counts.
const policy = (await iam.send(new CreatePolicyCommand({ PolicyName: "js-policy", PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "iam:GetUser", Resource: "*" }] }), Tags: [{ Key: "team", Value: "js" }] }))).Policy;
check(policy.Tags?.[0]?.Key === "team", "CreatePolicy returns its Tags");
check((await iam.send(new ListPolicyTagsCommand({ PolicyArn: policy.Arn }))).Tags.length === 1, "ListPolicyTags");
await refused(iam.send(new CreatePolicyCommand({ PolicyName: "js-bad", PolicyDocument: "{}" })), MalformedPolicyDocumentException, "a malformed policy");
const summary = (await iam.send(new GetAccountSummaryCommand({}))).SummaryMap;
check(summary.Users === 5 && summary.Roles === 1 && summary.Policies === 1 && summary.MFADevicesInUse === 1, `GetAccountSummary: ${JSON.stringify(summary)}`);

// RoleLastUsed after the assumption (recorded in the background: give it a moment).
let used = {};
for (let i = 0; i < 50 && !used.LastUsedDate; i++) {
  used = (await iam.send(new GetRoleCommand({ RoleName: "js-admin" }))).Role.RoleLastUsed ?? {};
  if (!used.LastUsedDate) await new Promise((r) => setTimeout(r, 200));
}
check(used.LastUsedDate instanceof Date && used.Region === "us-east-1", `RoleLastUsed: ${JSON.stringify(used)}`);

// CloudTrail over the SDK's own X-Amz-Target (CloudTrail_20131101.LookupEvents), with its paginator.
const created = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: "EventName", AttributeValue: "CreateUser" }] }));
check(created.Events.length === 5 && created.Events.every((e) => e.EventName === "CreateUser"), `LookupEvents CreateUser: ${created.Events.length}`);
const record = JSON.parse(created.Events[0].CloudTrailEvent);
check(record.userIdentity.type === "Root" && record.eventSource === "iam.amazonaws.com", "the record's identity");
const assumedEvents = await trail.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: "EventName", AttributeValue: "AssumeRole" }] }));
const ok = assumedEvents.Events.map((e) => JSON.parse(e.CloudTrailEvent)).find((r) => !r.errorCode);
check(ok && ok.requestParameters?.serialNumber === devices[0].serial, `AssumeRole names its device: ${JSON.stringify(ok?.requestParameters)}`);
let pages = 0, events = 0;
for await (const page of paginateLookupEvents({ client: trail, pageSize: 3 }, {})) {
  pages += 1;
  events += page.Events.length;
  if (pages >= 4) break;
}
check(pages >= 2 && events >= 6, `LookupEvents paginator: ${pages} pages, ${events} events`);

console.log(JSON.stringify({ checks }));
