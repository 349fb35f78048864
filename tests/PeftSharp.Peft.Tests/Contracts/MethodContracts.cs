using PeftSharp.Peft.Core;
using PeftSharp.Peft.Methods.Ia3;
using PeftSharp.Peft.Methods.Lora;

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

public sealed class OftContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new Methods.Oft.OftConfig { TargetModules = ModuleSelector.List("fc1", "fc2", "head"), R = 2 };
}

public sealed class OftBlockShareContractTests : AdapterContractTests
{
    protected override AdapterConfig Config => new Methods.Oft.OftConfig { TargetModules = ModuleSelector.List("fc1", "fc2"), R = 0, OftBlockSize = 2, BlockShare = true };
}
