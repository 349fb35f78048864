using PeftSharp.Tensors;
using PeftSharp.Tensors.Serialization;

namespace PeftSharp.Tensors.Tests.Serialization;

public class TensorFileTests
{
    [Fact]
    public void SaveLoad_RoundTripsFloatHalfAndIntTensors()
    {
        var dir = Directory.CreateTempSubdirectory("peftsharp-tf-");
        try
        {
            var path = Path.Combine(dir.FullName, "t.safetensors");
            var f = Tensor.FromArray([1.5f, -2f, 3.25f, 0f, 7f, 1e-3f], 2, 3);
            var h = Tensor.FromArray([1f, 2f, 3f], 3).ToHalfStorage(DType.BF16);
            var i = Tensor.FromInts([5, -1, 70000], 3);
            TensorFile.Save(path, new Dictionary<string, Tensor> { ["f"] = f, ["h"] = h, ["i"] = i }, TensorFile.PyTorchMetadata);
            using (var file = SafetensorsFile.Open(path))
            {
                Assert.Equal("pt", file.Metadata["format"]);
                Assert.Equal(DType.I64, file.GetEntry("i").DType);
                Assert.Equal(DType.BF16, file.GetEntry("h").DType);
            }
            var loaded = TensorFile.Load(path);
            Assert.Equal(f.ToArray(), loaded["f"].ToArray());
            Assert.Equal(new[] { 2, 3 }, loaded["f"].Shape.ToArray());
            Assert.Equal(new[] { 1f, 2f, 3f }, loaded["h"].ToArray());
            Assert.Equal(DType.F32, loaded["h"].DType);
            Assert.Equal(DType.BF16, TensorFile.Load(path, keepHalf: true)["h"].DType);
            Assert.Equal(new[] { 5, -1, 70000 }, loaded["i"].ToIntArray());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
