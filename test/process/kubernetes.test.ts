// examples/kubernetes: no cluster runs here, so the manifest is checked for what would break it
// (a selector that misses the pods, a Service that is not headless, a secret reference to
// nothing, env the app does not read), and then run as Kubernetes would run it: three copies of
// examples/existing-app with the env the Deployment gives each pod (pod IPs 127.0.0.2-4), and a
// real dnsmasq answering the headless Service's name with those IPs.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { Dnsmasq, freePort, needs, sleep, stop } from '../helpers/index.js';

const MANIFEST = fileURLToPath(new URL('../../examples/kubernetes/existing-app.yaml', import.meta.url));
const APP = fileURLToPath(new URL('../../examples/existing-app/app.mjs', import.meta.url));
const NAMESPACE = 'default';
/** Turns on each pod's dashboard, where the test reads the peers it sees. */
const ADMIN_TOKEN = 'k8s-test-admin-token-0123';

// biome-ignore lint/suspicious/noExplicitAny: a parsed manifest is untyped JSON
type Obj = any;

function manifest(): { secret: Obj; service: Obj; deployment: Obj } {
  const docs = parseAllDocuments(readFileSync(MANIFEST, 'utf8'));
  for (const doc of docs) expect(doc.errors, 'YAML errors').to.deep.equal([]);
  const objects = docs.map((d) => d.toJS());
  const find = (kind: string) => {
    const found = objects.filter((o) => o?.kind === kind);
    expect(found, `one ${kind}`).to.have.length(1);
    return found[0];
  };
  return { secret: find('Secret'), service: find('Service'), deployment: find('Deployment') };
}

/**
 * The environment Kubernetes gives the container of a pod with IP `podIP`: literal values,
 * fieldRefs, secretKeyRefs resolved against the manifest's Secret, and `$(VAR)` expanded from
 * the variables defined before it (as the kubelet does).
 */
function podEnv(container: Obj, secret: Obj, podIP: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env) {
    let value: string;
    if (e.value !== undefined) value = String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name) => env[name] ?? all);
    else if (e.valueFrom?.fieldRef) {
      const fields: Record<string, string> = { 'status.podIP': podIP, 'metadata.namespace': NAMESPACE };
      value = fields[e.valueFrom.fieldRef.fieldPath];
      expect(value, `fieldRef ${e.valueFrom.fieldRef.fieldPath}`).to.be.a('string');
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      expect(ref.name, `${e.name} refers to the manifest's Secret`).to.equal(secret.metadata.name);
      value = secret.stringData?.[ref.key] ?? Buffer.from(secret.data?.[ref.key] ?? '', 'base64').toString();
      expect(value, `the Secret has key ${ref.key}`).to.not.equal('');
    } else throw new Error(`env ${e.name}: unsupported source ${JSON.stringify(e)}`);
    env[e.name] = value;
  }
  return env;
}

describe('examples/kubernetes', function () {
  this.timeout(60_000);

  it('is a headless Service over the Deployment’s pods, with env the app reads and a Secret that exists', () => {
    const { secret, service, deployment } = manifest();
    expect(deployment.spec.replicas).to.equal(3);
    const pod = deployment.spec.template;
    for (const [k, v] of Object.entries(service.spec.selector)) expect(pod.metadata.labels[k], `pod label ${k}`).to.equal(v);
    expect(deployment.spec.selector.matchLabels).to.deep.equal(service.spec.selector);
    expect(service.spec.clusterIP, 'headless: one A record per pod').to.equal('None');
    const [container] = pod.spec.containers;
    const env = podEnv(container, secret, '10.0.0.7');
    expect(env.PEERS_DNS).to.equal(`${service.metadata.name}.${NAMESPACE}.svc.cluster.local`);
    expect(Number(env.PORT)).to.equal(container.ports[0].containerPort).and.to.equal(service.spec.ports[0].targetPort);
    const source = readFileSync(APP, 'utf8');
    const read = new Set([...source.matchAll(/process\.env\.([A-Z_]+)/g)].map((m) => m[1]));
    for (const name of Object.keys(env)) {
      if (name !== 'POD_NAMESPACE') expect(read.has(name), `the app reads ${name}`).to.equal(true);
    }
    expect(container.readinessProbe.httpGet.path).to.equal('/healthz');
    expect(source, 'the app serves the probe').to.include("app.get('/healthz'");
  });

  it('runs as 3 pods that find each other through the Service name (real DNS) and agree on the ring', async function () {
    needs(this, 'dnsmasq');
    const { secret, service, deployment } = manifest();
    const container = deployment.spec.template.spec.containers[0];
    const ips = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    const fqdn = `${service.metadata.name}.${NAMESPACE}.svc.cluster.local`;
    const dns = await Dnsmasq.start({ a: { [fqdn]: ips } }, 'cluster.local');
    // The only changes to the pods' env: a free port instead of 3000 (this machine is shared), the
    // test's DNS server, and a listen address per "pod" (in a cluster each pod has its own).
    const port = await freePort();
    const apps: ChildProcess[] = [];
    try {
      for (const ip of ips) {
        const env = { ...podEnv(container, secret, ip), PORT: String(port), HOST: ip, PEERS_DNS_RESOLVER: dns.address, ADMIN_TOKEN };
        const app = spawn(process.execPath, [APP], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
        apps.push(app);
        let out = '';
        await new Promise((resolve, reject) => {
          app.stdout?.on('data', (d) => {
            out += d;
            if (out.includes('listening')) resolve(undefined);
          });
          app.stderr?.on('data', (d) => (out += d));
          app.on('exit', (code) => reject(new Error(`app exited with ${code}: ${out}`)));
        });
      }
      const urls = ips.map((ip) => `http://${ip}:${port}`);
      // Who each pod thinks the peers are: on its dashboard, behind the admin token (the probe
      // route, which anyone reaching the pod may call, says only the status).
      const view = async (u: string) => {
        const model = (await (await fetch(`${u}/geecache/api/cluster`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
          self: string;
          peers: { url: string }[];
        };
        return { self: model.self, peers: model.peers.map((p) => p.url) };
      };
      let views: { self: string; peers: string[] }[] = [];
      for (let i = 0; i < 200; i++) {
        views = await Promise.all(urls.map(view));
        if (views.every((v) => JSON.stringify(v.peers) === JSON.stringify(urls))) break;
        await sleep(50);
      }
      expect(views.map((v) => v.peers)).to.deep.equal([urls, urls, urls]);
      expect(views.map((v) => v.self)).to.deep.equal(urls);
      for (const u of urls) expect(await (await fetch(`${u}/healthz`)).json(), 'the probe: the status, no peer list').to.deep.equal({ status: 'ok' });
      for (const name of ['Tom', 'Jack', 'Sam', 'Kate']) {
        const answers = await Promise.all(urls.map(async (u) => (await fetch(`${u}/score/${name}`)).text()));
        expect(answers).to.deep.equal(urls.map(() => String(name.length * 100)));
      }
    } finally {
      await Promise.all(apps.map((a) => stop(a)));
      await dns.stop();
    }
  });
});
