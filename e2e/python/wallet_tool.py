"""Wallet checks with the real bittensor SDKs, for the e2e tests (e2e/tests/keys.rs).

Each subcommand prints one JSON object. Both SDK generations are used where they apply:
`bittensor` (11.x, bittensor.Wallet) and `bittensor_wallet` (4.x, bittensor_wallet.Wallet).

  sign PATH WALLET HOTKEY MESSAGE_HEX       load the hotkey with both SDKs and sign
  new-hotkey PATH WALLET HOTKEY             create an unencrypted hotkey with the SDK
  new-coldkey PATH WALLET PASSWORD          create a password-encrypted coldkey with the SDK
"""
import json
import sys

import bittensor
import bittensor_wallet


def sign(path, wallet, hotkey, message_hex):
    message = bytes.fromhex(message_hex)
    out = {}
    for name, cls in (("bittensor", bittensor.Wallet), ("bittensor_wallet", bittensor_wallet.Wallet)):
        w = cls(name=wallet, hotkey=hotkey, path=path)
        kp = w.hotkey
        sig = kp.sign(message)
        out[name] = {
            "ss58": kp.ss58_address,
            "public": bytes(kp.public_key).hex(),
            "signature": bytes(sig).hex(),
            "verifies": bool(kp.verify(message, sig)),
            "coldkeypub": w.coldkeypub.ss58_address,
        }
    return out


def new_hotkey(path, wallet, hotkey):
    w = bittensor.Wallet(name=wallet, hotkey=hotkey, path=path)
    w.create_new_hotkey(n_words=12, use_password=False, overwrite=True, suppress=True)
    return {"ss58": w.hotkey.ss58_address, "file": f"{path}/{wallet}/hotkeys/{hotkey}"}


def new_coldkey(path, wallet, password):
    w = bittensor.Wallet(name=wallet, path=path)
    w.create_new_coldkey(
        n_words=12, use_password=True, overwrite=True, suppress=True, coldkey_password=password
    )
    return {"ss58": w.coldkeypub.ss58_address, "file": f"{path}/{wallet}/coldkey"}


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"sign": sign, "new-hotkey": new_hotkey, "new-coldkey": new_coldkey}[cmd]
    print(json.dumps(fn(*args)))


if __name__ == "__main__":
    main()
