"""The early-stopped Keras fit shared by every trained few-shot method."""


def fit_early_stopping(model, x_train, y_train, x_val, y_val, epochs, batch_size, patience, seed, optimizer="auto"):
    """Compiles and fits `model`, stopping on the validation loss and keeping
    the best epoch's weights; returns the model."""
    import keras

    # Seeded here as well as before construction: the shuffling and dropout
    # of the fit are then the seed's too.
    keras.utils.set_random_seed(seed)
    model.compile(optimizer)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
              callbacks=[stop], verbose=0, shuffle=True)
    return model
