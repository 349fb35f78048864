namespace PeftSharp.Training.Checkpoints;

/// <summary>A checkpoint is missing, incomplete, or does not match the run that tries to load it.</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message) : base(message)
    {
    }

    public CheckpointException(string message, Exception inner) : base(message, inner)
    {
    }
}
