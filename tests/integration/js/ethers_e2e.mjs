// End-to-end check that unmodified ethers v6 works against an evidence-ledger node.
//
// Usage: node ethers_e2e.mjs <http|ws|defaults> <input.json>
//   input.json: {"url", "wsUrl", "privateKey", "expectedAddress", "chainId",
//                "bytecode", "abi"}
//   http:     the JSON-RPC API over HTTP (fast polling, NonceManager);
//   ws:       subscriptions over the WebSocket endpoint;
//   defaults: the flow as a newcomer writes it, every ethers default kept.
//
// Prints one JSON summary (bigints as decimal strings) on stdout and exits 0.
// On any error prints the error plus the last JSON-RPC exchanges ethers had
// with the node (from the provider's "debug" events) on stderr and exits 1,
// so a failing test shows the exact request/response that ethers rejected.

import { readFileSync } from "node:fs";
import {
  ContractFactory,
  Contract,
  JsonRpcProvider,
  NonceManager,
  WebSocketProvider,
  Wallet,
  version as ethersVersion,
} from "ethers";

const [mode, inputPath] = process.argv.slice(2);
const input = JSON.parse(readFileSync(inputPath, "utf8"));

const rpcLog = [];
function recordDebug(ev) {
  // ev.action: sendRpcPayload | receiveRpcResult | receiveRpcError
  rpcLog.push(ev);
  if (rpcLog.length > 40) rpcLog.shift();
}

const jsonReplacer = (_k, v) => (typeof v === "bigint" ? v.toString() : v);
const big = (v) => (v == null ? null : v.toString());

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function txSummary(provider, tx, receipt) {
  const fetched = await provider.getTransaction(tx.hash);
  return {
    hash: tx.hash,
    type: fetched.type,
    nonce: fetched.nonce,
    gasPrice: big(fetched.gasPrice),
    maxFeePerGas: big(fetched.maxFeePerGas),
    maxPriorityFeePerGas: big(fetched.maxPriorityFeePerGas),
    chainId: big(fetched.chainId),
    from: fetched.from,
    to: fetched.to,
    status: receipt.status,
    blockNumber: receipt.blockNumber,
    blockHash: receipt.blockHash,
    gasUsed: big(receipt.gasUsed),
    effectiveGasPrice: big(receipt.gasPrice),
    logs: receipt.logs.length,
    contractAddress: receipt.contractAddress,
  };
}

function eventSummary(ev) {
  return {
    setter: ev.args.setter,
    key: big(ev.args.key),
    value: big(ev.args.value),
    blockNumber: ev.blockNumber,
    transactionHash: ev.transactionHash,
    logIndex: ev.index,
  };
}

async function runHttp() {
  const provider = new JsonRpcProvider(input.url, undefined, { pollingInterval: 250 });
  provider.on("debug", recordDebug);
  try {
    const out = { ethersVersion };
    // ethers retries network detection forever when eth_chainId fails: bound it.
    const network = await withTimeout(provider.getNetwork(), 30000, "network detection (eth_chainId)");
    out.chainId = big(network.chainId);

    const wallet = new Wallet(input.privateKey, provider);
    out.address = wallet.address;

    const fee = await provider.getFeeData();
    out.feeData = {
      gasPrice: big(fee.gasPrice),
      maxFeePerGas: big(fee.maxFeePerGas),
      maxPriorityFeePerGas: big(fee.maxPriorityFeePerGas),
    };
    out.blockNumberBefore = await provider.getBlockNumber();
    out.balanceBefore = big(await provider.getBalance(wallet.address));
    out.nonceBefore = await provider.getTransactionCount(wallet.address);

    out.noncePendingBefore = await provider.getTransactionCount(wallet.address, "pending");

    // ethers' documented way to send several transactions without waiting for
    // each one: NonceManager asks the node once for
    // eth_getTransactionCount(addr, "pending") and then counts locally (a
    // plain Wallet would re-ask for every transaction, and ethers' 250 ms
    // request cache could hand it the same nonce twice on a fast chain).
    const signer = new NonceManager(wallet);

    // Deploy: every fee field is populated by ethers from the node.
    const factory = new ContractFactory(input.abi, input.bytecode, signer);
    const deployed = await factory.deploy();
    const deployTx = deployed.deploymentTransaction();
    await withTimeout(deployed.waitForDeployment(), 60000, "deployment");
    const deployReceipt = await withTimeout(deployTx.wait(), 60000, "deploy receipt");
    const address = await deployed.getAddress();
    out.contractAddress = address;
    out.deploy = await txSummary(provider, deployTx, deployReceipt);
    out.codeLength = (await provider.getCode(address)).length;
    const contract = new Contract(address, input.abi, signer);

    // 1) plain set, fees populated by ethers, waited for one by one.
    const sets = [];
    for (const [key, value] of [[1n, 100n], [2n, 200n]]) {
      const tx = await contract.set(key, value);
      const receipt = await withTimeout(tx.wait(), 60000, `receipt of set(${key})`);
      sets.push({ key: big(key), value: big(value), ...(await txSummary(provider, tx, receipt)) });
    }
    // 2) explicit EIP-1559 transaction with zero fees.
    {
      const tx = await contract.set(3n, 300n, { type: 2, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
      const receipt = await withTimeout(tx.wait(), 60000, "receipt of type-2 set(3)");
      sets.push({ key: "3", value: "300", ...(await txSummary(provider, tx, receipt)) });
    }
    // 3) explicit legacy transaction with gasPrice 0.
    {
      const tx = await contract.set(4n, 400n, { type: 0, gasPrice: 0n });
      const receipt = await withTimeout(tx.wait(), 60000, "receipt of legacy set(4)");
      sets.push({ key: "4", value: "400", ...(await txSummary(provider, tx, receipt)) });
    }
    // 4) a burst sent without waiting: the node must queue consecutive
    //    nonces of one sender in its pool and include them all.
    {
      const burst = [];
      for (const [key, value] of [[1n, 111n], [5n, 500n], [6n, 600n]]) {
        burst.push([key, value, await contract.set(key, value)]);
      }
      for (const [key, value, tx] of burst) {
        const receipt = await withTimeout(tx.wait(), 60000, `receipt of burst set(${key})`);
        sets.push({ key: big(key), value: big(value), ...(await txSummary(provider, tx, receipt)) });
      }
    }
    out.sets = sets;

    const fromBlock = deployReceipt.blockNumber;
    // Events through eth_getLogs, via the contract's filters ...
    out.eventsBySetter = (await contract.queryFilter(contract.filters.Stored(wallet.address), fromBlock, "latest")).map(eventSummary);
    out.eventsByKey1 = (await contract.queryFilter(contract.filters.Stored(null, 1n), fromBlock, "latest")).map(eventSummary);
    // ... and through the raw provider API.
    const topic0 = contract.interface.getEvent("Stored").topicHash;
    const rawLogs = await provider.getLogs({ address, fromBlock, toBlock: "latest", topics: [topic0] });
    out.rawLogs = rawLogs.map((log) => {
      const parsed = contract.interface.parseLog(log);
      return {
        address: log.address,
        topics: log.topics,
        data: log.data,
        blockNumber: log.blockNumber,
        blockHash: log.blockHash,
        transactionHash: log.transactionHash,
        index: log.index,
        name: parsed.name,
        key: big(parsed.args.key),
        value: big(parsed.args.value),
        setter: parsed.args.setter,
      };
    });
    // A block-hash filter for the first set's block.
    out.logsByBlockHash = (await provider.getLogs({ address, blockHash: sets[0].blockHash })).length;

    // Views (eth_call).
    out.get = {};
    for (const key of [1n, 2n, 3n, 4n, 5n, 6n, 99n]) out.get[key.toString()] = big(await contract.get(key));
    out.last = big(await contract.last());
    out.writes = big(await contract.writes());
    out.estimateGasSet = big(await contract.set.estimateGas(7n, 700n));
    out.staticCallGet = big(await contract.get.staticCall(2n));

    out.blockNumberAfter = await provider.getBlockNumber();
    out.balanceAfter = big(await provider.getBalance(wallet.address));
    out.nonceAfter = await provider.getTransactionCount(wallet.address);
    out.noncePending = await provider.getTransactionCount(wallet.address, "pending");

    const block = await provider.getBlock(sets[0].blockNumber);
    out.block = {
      number: block.number,
      hash: block.hash,
      parentHash: block.parentHash,
      timestamp: block.timestamp,
      baseFeePerGas: big(block.baseFeePerGas),
      gasLimit: big(block.gasLimit),
      transactions: block.transactions,
    };
    const latest = await provider.getBlock("latest");
    out.latestBlockNumber = latest.number;
    const receipt0 = await provider.getTransactionReceipt(sets[0].hash);
    out.receiptLookup = { hash: receipt0.hash, blockNumber: receipt0.blockNumber, status: receipt0.status };
    return out;
  } finally {
    provider.destroy();
  }
}

// Deploy-then-call rounds in "defaults" mode: enough for the race below to show.
const DEFAULT_FLOW_ROUNDS = 5;

async function runDefaults() {
  // Exactly what ethers' documentation shows and a newcomer writes: a provider
  // with no options (so ethers' 250 ms request cache and 4 s polling stay on),
  // a plain Wallet (no NonceManager), deploy, waitForDeployment(), and the
  // contract's first transaction straight away. Each transaction asks the node
  // for eth_getTransactionCount(addr, "pending"); if the node sealed the
  // previous transaction before ethers' first receipt check (~25 ms after the
  // send), that second request falls inside the 250 ms cache window and ethers
  // reuses the stale nonce ("nonce has already been used"). The node seals on
  // the block period's schedule, as Besu's QBFT does, and never less than
  // 250 ms after a transaction reached an idle chain: every round goes through.
  const provider = new JsonRpcProvider(input.url);
  provider.on("debug", recordDebug);
  try {
    const out = { ethersVersion, rounds: [] };
    // ethers retries network detection forever when eth_chainId fails: bound it.
    out.chainId = big((await withTimeout(provider.getNetwork(), 30000, "network detection (eth_chainId)")).chainId);
    const wallet = new Wallet(input.privateKey, provider);
    out.address = wallet.address;
    for (let round = 0; round < DEFAULT_FLOW_ROUNDS; round++) {
      const key = BigInt(round + 1);
      const value = BigInt(1000 + round);
      const factory = new ContractFactory(input.abi, input.bytecode, wallet);
      const contract = await factory.deploy();
      await withTimeout(contract.waitForDeployment(), 60000, `deployment ${round}`);
      const tx = await contract.set(key, value);
      const receipt = await withTimeout(tx.wait(), 60000, `receipt of set(${key}) in round ${round}`);
      out.rounds.push({
        address: await contract.getAddress(),
        deployNonce: contract.deploymentTransaction().nonce,
        setNonce: tx.nonce,
        status: receipt.status,
        key: big(key),
        value: big(value),
        get: big(await contract.get(key)),
        writes: big(await contract.writes()),
      });
    }
    out.nonceAfter = await provider.getTransactionCount(wallet.address, "latest");
    return out;
  } finally {
    provider.destroy();
  }
}

async function runWs() {
  // Subscriptions over the node's WebSocket endpoint; transactions go over HTTP.
  const ws = new WebSocketProvider(input.wsUrl);
  const http = new JsonRpcProvider(input.url, undefined, { pollingInterval: 250 });
  ws.on("debug", recordDebug);
  http.on("debug", recordDebug);
  try {
    const out = { ethersVersion };
    out.chainId = big((await withTimeout(ws.getNetwork(), 30000, "network detection over WebSocket")).chainId);
    out.blockNumber = await ws.getBlockNumber();
    const wallet = new Wallet(input.privateKey, http);

    const factory = new ContractFactory(input.abi, input.bytecode, wallet);
    const deployed = await factory.deploy();
    await withTimeout(deployed.waitForDeployment(), 60000, "deployment");
    const address = await deployed.getAddress();
    out.contractAddress = address;

    const wsContract = new Contract(address, input.abi, ws);
    const gotEvent = new Promise((resolve) => {
      wsContract.once("Stored", (setter, key, value, payload) => {
        resolve({ setter, key: big(key), value: big(value), blockNumber: payload.log.blockNumber, transactionHash: payload.log.transactionHash });
      });
    });
    const gotBlock = new Promise((resolve) => ws.once("block", (n) => resolve(n)));
    // Let eth_subscribe round-trip before sending.
    await new Promise((r) => setTimeout(r, 500));

    const contract = new Contract(address, input.abi, wallet);
    const tx = await contract.set(42n, 4242n);
    const receipt = await withTimeout(tx.wait(), 60000, "receipt of set(42)");
    out.tx = { hash: tx.hash, blockNumber: receipt.blockNumber, status: receipt.status };
    out.event = await withTimeout(gotEvent, 30000, "Stored event over eth_subscribe(logs)");
    out.newBlock = await withTimeout(gotBlock, 30000, "block over eth_subscribe(newHeads)");
    out.wsGet = big(await wsContract.get(42n));
    return out;
  } finally {
    http.destroy();
    await ws.destroy();
  }
}

function fail(err) {
  process.stderr.write(`ethers error: ${err && err.stack ? err.stack : err}\n`);
  for (const k of ["code", "shortMessage", "info", "error", "payload", "request", "response"]) {
    if (err && err[k] !== undefined) {
      process.stderr.write(`  ${k}: ${JSON.stringify(err[k], jsonReplacer)}\n`);
    }
  }
  process.stderr.write("last JSON-RPC exchanges (oldest first):\n");
  for (const ev of rpcLog) process.stderr.write("  " + JSON.stringify(ev, jsonReplacer) + "\n");
  process.exit(1);
}

// e.g. a WebSocket "error" event ethers does not handle itself.
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);

// Whole-run watchdog, below the Python side's subprocess timeout, so a hang
// still reports the JSON-RPC exchanges that led to it.
setTimeout(() => fail(new Error("ethers script watchdog: still running after 240 s")), 240000).unref();

try {
  const runs = { http: runHttp, ws: runWs, defaults: runDefaults };
  if (!Object.hasOwn(runs, mode)) throw new Error(`unknown mode ${JSON.stringify(mode)}: expected one of ${Object.keys(runs).join(", ")}`);
  const out = await runs[mode]();
  process.stdout.write(JSON.stringify(out, jsonReplacer) + "\n");
  process.exit(0);
} catch (err) {
  fail(err);
}
