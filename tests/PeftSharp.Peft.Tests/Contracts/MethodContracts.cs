using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.AdaLora;
using PeftSharp.Peft.Methods.Boft;
using PeftSharp.Peft.Methods.Bone;
using PeftSharp.Peft.Methods.Hra;
using PeftSharp.Peft.Methods.Ia3;
using PeftSharp.Peft.Methods.LoHa;
using PeftSharp.Peft.Methods.LoKr;
using PeftSharp.Peft.Methods.FourierFT;
using PeftSharp.Peft.Methods.LnTuning;
using PeftSharp.Peft.Methods.VbLora;
using PeftSharp.Peft.Methods.Vera;
using PeftSharp.Peft.Methods.Lora;
using PeftSharp.Peft.Methods.Oft;

namespace PeftSharp.Peft.Tests.Contracts;

// One row per method: the configuration under test on ToyModel (embed, fc1, fc2 stored transposed, head).

public sealed class LoraContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new LoraConfig { TargetModules = ModuleSelector.List("embed", "fc1", "fc2", "head"), R = 3, LoraAlpha = 5 };
}

public sealed class LoraRsLoraGaussianContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new LoraConfig { TargetModules = ModuleSelector.Regex(ModuleSelector.AllLinear), R = 2, LoraAlpha = 3, UseRsLora = true, Init = LoraInit.Gaussian };
}

public sealed class DoraContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new LoraConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 2, LoraAlpha = 4, UseDora = true };
}

public sealed class LoraModulesToSaveContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new LoraConfig { TargetModules = ModuleSelector.List("fc1"), ModulesToSave = ["head"], R = 4, LoraAlpha = 8 };
}

public sealed class Ia3ContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new Ia3Config { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), FeedforwardModules = ModuleSelector.List("fc2") };
}

public sealed class LoHaContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new LoHaConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 2, Alpha = 3 };
}

public sealed class LoKrContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new LoKrConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 1, Alpha = 2, DecomposeBoth = true };
}

public sealed class VeraContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new VeraConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 3, ProjectionPrngKey = 5 };
}

public sealed class FourierFTContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new FourierFTConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), NFrequency = 5, Scaling = 20 };
}

public sealed class VbLoraContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new VbLoraConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 2, NumVectors = 6, VectorLength = 1, Topk = 2 };
}

public sealed class LnTuningContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new LnTuningConfig { TargetModules = ModuleSelector.List("fc1", "head") };
}

public sealed class OftContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new OftConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 2 };
}

public sealed class OftBlockShareContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new OftConfig { TargetModules = ModuleSelector.List("fc1", "fc2"), R = 0, OftBlockSize = 2, BlockShare = true };
}

public sealed class BoftContractTests : AdapterContractTests
{
    // fc2 has 8 inputs: 4 blocks of 2 and three butterfly factors, so every permutation is non-trivial but P_0.
    protected override AdapterConfig Config => new BoftConfig { TargetModules = ModuleSelector.List("fc2"), BoftBlockSize = 2, BoftNButterflyFactor = 3 };
}

public sealed class BoftSingleFactorContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new BoftConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), BoftBlockSize = 0, BoftBlockNum = 1 };
}

public sealed class HraContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new HraConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 4 };
}

public sealed class HraGramSchmidtContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new HraConfig { TargetModules = ModuleSelector.List("fc1", "fc2"), R = 3, ApplyGs = true };
}

public sealed class BoneContractTests : AdapterContractTests
{
    // r = 3 leaves a partial last block on fc2 (8 inputs) and head (5 inputs).
    protected override AdapterConfig Config => new BoneConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 3 };
}

public sealed class BoneBatContractTests : AdapterContractTests
{
    // fc1 is 8 × 6 and head 7 × 5 would not split; fc1 and fc2 (5 × 8) do not both split into 2 × 2 blocks either, so fc1 only.
    protected override AdapterConfig Config => new BoneConfig { TargetModules = ModuleSelector.List("fc1"), R = 2, Variant = BoneVariant.Bat };
}

public sealed class AdaLoraContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new AdaLoraConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), InitR = 3, TargetR = 2, LoraAlpha = 4 };
}
